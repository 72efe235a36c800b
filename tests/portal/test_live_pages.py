"""The students' pages tell the truth, live: their project's progress stream, the states they follow,
why their last action failed, in their words (issue 11, items 4 to 7 and 18)."""

import pytest
from django.test import Client
from django.urls import reverse

from daemon.cluster import builds
from projects.choices import Action, HostState, ProjectState
from projects.consumers import CLOSE_NO_ACCESS
from projects.group_views import in_plain_words
from tests.factories import spec_from

from .conftest import asession, asynchronous, close_code, communicator, session_of

STEP_FAILURES = [
    "start server: not built: run mln build for project os01",
    "internal error: KeyError('server')",
    "start server: libvirt: error from qemu: could not open /var/lib/x",
]


def student_of(group):
    """A browser that opened `group`'s access link."""
    client = Client()
    client.post(reverse("group_open"), {"token": group.token})
    return client


@pytest.mark.django_db
def test_the_student_page_streams_its_project_and_follows_its_states(world):
    page = student_of(world.group1).get(world.group1.get_absolute_url()).content.decode()
    assert f'data-progress-stream="/ws/progress/project/{world.project1.pk}/"' in page
    assert reverse("project_states", args=[world.project1.pk]) in page
    assert f'data-console-for="{world.host1.pk}"' in page


@pytest.mark.django_db
def test_states_follow_what_the_daemon_reported_in_a_students_words(world):
    client = student_of(world.group1)
    url = reverse("project_states", args=[world.project1.pk])
    assert client.get(url).json()["hosts"][str(world.host1.pk)]["label"] == "running"
    world.host1.state = HostState.STOPPED
    world.host1.save()
    truth = client.get(url).json()
    assert truth["hosts"][str(world.host1.pk)] == {
        "name": "server",
        "project": world.project1.pk,
        "state": "stopped",
        "label": "off",
    }
    world.host1.state = HostState.ABSENT
    world.host1.save()
    assert client.get(url).json()["hosts"][str(world.host1.pk)]["label"] == "not created yet"


@pytest.mark.django_db
def test_another_groups_states_are_not_found(world):
    client = student_of(world.group1)
    assert client.get(reverse("project_states", args=[world.project2.pk])).status_code == 404
    assert Client().get(reverse("project_states", args=[world.project1.pk])).status_code == 404


@pytest.mark.django_db
def test_the_instructor_gets_the_instructors_words(world):
    client = Client()
    client.force_login(world.ada)
    world.host1.state = HostState.ABSENT
    world.host1.save()
    url = reverse("project_states", args=[world.project1.pk])
    assert client.get(url).json()["hosts"][str(world.host1.pk)]["label"] == "not defined"
    assert client.get(url + "?for=student").json()["hosts"][str(world.host1.pk)]["label"] == "not created yet"


@pytest.mark.django_db
def test_a_queued_action_shows_as_on_its_way_then_a_failure_shows_its_reason(world):
    client = student_of(world.group1)
    url = reverse("project_states", args=[world.project1.pk])
    build = builds.submit(world.project1, Action.START, "localhost", host_name="server")
    truth = client.get(url).json()
    assert truth["busy"]["text"] == "Starting server…" and truth["problem"] == ""
    page = client.get(world.group1.get_absolute_url()).content.decode()
    assert "Starting server…" in page
    build.fail(STEP_FAILURES[0])
    truth = client.get(url).json()
    assert truth["busy"] is None
    assert truth["problem"].startswith("Starting server failed: it has not been created yet")
    page = client.get(world.group1.get_absolute_url()).content.decode()
    assert "Starting server failed" in page and "run mln build" not in page


@pytest.mark.parametrize("reason", STEP_FAILURES)
def test_a_failure_is_said_without_the_command_lines_words(reason):
    build = builds.Build(action=Action.START, host_name="server", error=reason)
    words = in_plain_words(build)
    assert words.startswith("Starting server failed")
    for cli in ("mln", "libvirt", "qemu", "internal error", "KeyError"):
        assert cli not in words


def test_a_plain_reason_is_kept():
    build = builds.Build(action=Action.STOP, host_name="pc", error="stop pc: the guest did not answer")
    assert in_plain_words(build) == "Shutting down pc failed: the guest did not answer."


@pytest.mark.django_db
def test_student_pages_say_no_daemon_words(world):
    world.host1.state = HostState.ABSENT
    world.host1.save()
    world.project1.set_state(ProjectState.NEW)
    client = student_of(world.group1)
    for url in (world.group1.get_absolute_url(), reverse("console", args=[world.host1.pk])):
        page = client.get(url).content.decode()
        assert "not created yet" in page
        for words in ("Service host", "service host", ">absent<", "not defined", "not placed"):
            assert words not in page, (url, words)


@pytest.mark.django_db
def test_the_console_of_a_stopped_host_offers_start_and_says_it_connects_by_itself(world):
    world.host1.state = HostState.STOPPED
    world.host1.save()
    page = student_of(world.group1).get(reverse("console", args=[world.host1.pk])).content.decode()
    assert "server is off. Start it: the console connects by itself." in page
    assert "data-start-form >" in page or "data-start-form>" in page  # not hidden
    assert f'data-host-id="{world.host1.pk}"' in page


@pytest.mark.django_db
def test_the_project_page_badge_and_topology_follow(world):
    world.project1.spec = spec_from("global {\n project os01\n}\nhost server {\n template tiny\n}\n").to_dict()
    world.project1.save()
    client = Client()
    client.force_login(world.ada)
    page = client.get(reverse("project", args=[world.project1.pk])).content.decode()
    assert f'data-project-state="{world.project1.pk}"' in page
    assert f'data-topology-project="{world.project1.pk}"' in page
    assert 'data-topology-host="server"' in page
    assert "data-topology-state>running<" in page
    assert reverse("project_states", args=[world.project1.pk]) in page


@pytest.mark.django_db(transaction=True)
@asynchronous
async def test_a_student_watches_their_own_projects_progress_only(world):
    session = await asession(tokens=[world.group1.token])
    ws = communicator(f"/ws/progress/project/{world.project1.pk}/", session)
    assert (await ws.connect())[0]
    assert await ws.receive_json_from() == {"type": "replayed"}
    await ws.disconnect()
    for path in (f"/ws/progress/project/{world.project2.pk}/", f"/ws/progress/course/{world.course.pk}/"):
        ws = communicator(path, session)
        assert (await ws.connect())[0]
        assert await close_code(ws) == CLOSE_NO_ACCESS
        await ws.disconnect()


@pytest.mark.django_db(transaction=True)
@asynchronous
async def test_a_student_of_the_group_by_membership_watches_it_too(world):
    from channels.db import database_sync_to_async

    session = await database_sync_to_async(session_of)(world.bob)
    ws = communicator(f"/ws/progress/project/{world.project1.pk}/", session)
    assert (await ws.connect())[0]
    assert await ws.receive_json_from() == {"type": "replayed"}
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
@asynchronous
async def test_the_bars_learn_the_latest_build_of_each_project_first_even_queued(world):
    from channels.db import database_sync_to_async

    @database_sync_to_async
    def builds_of_the_course():
        old = world.build(world.project1)
        old.log_event("storage", "made", done=1, total=1)
        old.succeed()
        queued = world.build(world.project1)  # no event yet: the old build must count no more
        failed = world.build(world.project2)
        failed.fail("start server: not built: run mln build for project os02")
        return queued, failed

    queued, failed = await builds_of_the_course()
    ws = communicator(f"/ws/progress/course/{world.course.pk}/", await asession(world.ada))
    assert (await ws.connect())[0]
    assert await ws.receive_json_from() == {
        "type": "builds",
        "builds": [
            {"project": world.project1.pk, "build": queued.pk, "status": "queued"},
            {"project": world.project2.pk, "build": failed.pk, "status": "failed"},
        ],
    }
    await ws.disconnect()
