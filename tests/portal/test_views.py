"""Every page of the portal for an anonymous visitor, a student of another group, another instructor
and the owner (the consumers' side is test_access.py and test_progress_stream.py).

World (conftest): Ada owns course `os` (groups 1 and 2); Grace is another instructor; Bob is a
student of group 1, Eve of group 2. Hosts are `server` of each group's project.
"""

import uuid

import django_rq
import pytest
from django.urls import reverse

from daemon import conf as mlnconf
from daemon.cluster import builds, signing
from projects.access import SESSION_TOKENS
from projects.choices import Action, BuildStatus, HostState
from projects.models import Build
from tests.factories import server_spec


@pytest.fixture
def site(world, tmp_path, monkeypatch):
    """World, with specs the actions can read, and a service host of this test's own (Redis is shared)."""
    service_host = f"portal-{uuid.uuid4().hex[:6]}"
    conf = tmp_path / "mln.conf"
    conf.write_text(f"service_host {service_host}\n")
    monkeypatch.setenv("MLN_CONF", str(conf))
    for project in (world.project1, world.project2):
        project.spec = server_spec(project.name).to_dict()
        project.save()
    world.service_host = service_host
    yield world
    signing.queue(service_host).delete(delete_jobs=True)


def as_user(client, user):
    if user is not None:
        client.force_login(user)
    return client


def holding(client, token):
    """A browser that opened the access link of `token`."""
    session = client.session
    session[SESSION_TOKENS] = [token]
    session.save()
    return client


# --- instructors' pages ------------------------------------------------------------------------


def instructor_pages(world):
    course, project = world.course, world.project1
    return [
        ("get", reverse("course", args=[course.short_name])),
        ("get", reverse("course_states", args=[course.short_name])),
        ("get", reverse("project", args=[project.pk])),
        ("post", reverse("course_action", args=[course.short_name, "stop"])),
        ("post", reverse("project_action", args=[project.pk, "stop"])),
    ]


def test_the_owner_sees_the_course_and_project_pages(client, site):
    as_user(client, site.ada)
    course = client.get(reverse("course", args=["os"])).content.decode()
    assert f'data-progress-stream="/ws/progress/course/{site.course.pk}/"' in course
    assert f'data-progress-project="{site.project1.pk}"' in course and "<svg" in course
    assert f'data-host-state="{site.host1.pk}"' in course
    project = client.get(reverse("project", args=[site.project1.pk])).content.decode()
    assert "10.0.0.1" in project and "/ws/progress/project/" in project
    states = client.get(reverse("course_states", args=["os"])).json()
    assert states["hosts"][str(site.host1.pk)] == {"state": "running", "label": "running"}
    project1 = site.project1
    project1.refresh_from_db()
    assert states["projects"][str(project1.pk)] == {"state": project1.state, "label": project1.get_state_display()}


def test_another_instructor_finds_no_such_course_or_project(client, site):
    as_user(client, site.grace)
    for method, url in instructor_pages(site):
        assert getattr(client, method)(url).status_code == 404, url
    assert not Build.objects.exists()


def test_a_student_is_refused_the_instructors_pages(client, site):
    as_user(client, site.bob)
    for method, url in instructor_pages(site):
        assert getattr(client, method)(url).status_code == 403, url


def test_an_anonymous_visitor_is_sent_to_log_in(client, site):
    for method, url in instructor_pages(site):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url


def test_the_owner_stops_a_course_a_group_and_one_host_each_one_build_per_project(client, site):
    as_user(client, site.ada)
    response = client.post(reverse("course_action", args=["os", "stop"]))
    assert response.status_code == 302 and response["Location"] == site.course.get_absolute_url()
    assert Build.objects.filter(action=Action.STOP, host_name="").count() == 2
    client.post(reverse("project_action", args=[site.project1.pk, "start"]), {"host": site.host1.pk})
    build = Build.objects.get(action=Action.START)
    assert (build.project, build.host_name, build.service_host, build.requested_by) == (
        site.project1,
        "server",
        site.service_host,
        site.ada,
    )
    assert (
        client.post(reverse("project_action", args=[site.project1.pk, "start"]), {"host": site.host2.pk}).status_code
        == 404
    )  # another project's host
    assert client.post(reverse("project_action", args=[site.project1.pk, "export"])).status_code == 404


def test_a_queued_job_goes_to_redis_only_after_the_commit_signed_for_its_service_host(
    client, site, django_capture_on_commit_callbacks
):
    as_user(client, site.ada)
    queue = signing.queue(site.service_host)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(reverse("project_action", args=[site.project1.pk, "stop"]))
        assert queue.count == 0
    for callback in callbacks:
        callback()
    build = Build.objects.get()
    job = queue.fetch_job(f"build-{build.pk}")
    envelope = job.args[0]
    assert (envelope["build"], envelope["service_host"]) == (build.pk, site.service_host)
    assert signing.verify(envelope, mlnconf.load(), queue.name) == build.pk
    assert build.status == BuildStatus.QUEUED


# --- students' pages ---------------------------------------------------------------------------


def test_an_access_link_shows_the_group_and_keeps_its_token_in_the_session(client, site):
    opened = client.post(reverse("group_open"), {"token": site.group1.token})
    assert opened["Location"] == site.group1.get_absolute_url()
    page = client.get(opened["Location"])
    text = page.content.decode()
    assert page.status_code == 200 and site.project1.name in text
    assert "pw-" + site.project1.name in text and "root-" + site.project1.name in text
    assert "pw-" + site.project2.name not in text
    assert client.session[SESSION_TOKENS] == [site.group1.token]
    assert reverse("console", args=[site.host1.pk]) in text
    assert client.get(reverse("group_link", args=["not-a-token"])).status_code == 404
    assert client.get(site.group2.get_absolute_url()).status_code == 404  # its token is not in this session


def test_a_logged_in_student_may_keep_the_group_on_their_account(client, site):
    as_user(client, site.eve)
    holding(client, site.group1.token)
    client.post(reverse("group_bind", args=[site.group1.pk]))
    assert site.group1.students.filter(pk=site.eve.pk).exists()
    client.logout()
    as_user(client, site.bob)  # who does not hold group 2's link
    assert client.post(reverse("group_bind", args=[site.group2.pk])).status_code == 404
    assert not site.group2.students.filter(pk=site.bob.pk).exists()


@pytest.mark.parametrize("viewer", ["owner", "member", "link"])
def test_the_console_page_is_for_the_groups_students_and_its_owner(client, site, viewer):
    {
        "owner": lambda: as_user(client, site.ada),
        "member": lambda: as_user(client, site.bob),
        "link": lambda: holding(client, site.group1.token),
    }[viewer]()
    page = client.get(reverse("console", args=[site.host1.pk])).content.decode()
    assert f'data-ws-path="/ws/console/{site.host1.pk}/"' in page
    assert '<script id="console-password" type="application/json">"secret"</script>' in page


@pytest.mark.parametrize("viewer", ["anonymous", "other group by link", "other group by account", "other instructor"])
def test_no_console_and_no_start_for_anyone_else(client, site, viewer):
    {
        "anonymous": lambda: None,
        "other group by link": lambda: holding(client, site.group2.token),
        "other group by account": lambda: as_user(client, site.eve),
        "other instructor": lambda: as_user(client, site.grace),
    }[viewer]()
    assert client.get(reverse("console", args=[site.host1.pk])).status_code == 404
    assert client.post(reverse("host_action", args=[site.host1.pk, "start"])).status_code == 404
    assert not Build.objects.exists()


def test_a_student_starts_and_stops_their_own_host_and_nothing_more(client, site):
    holding(client, site.group1.token)
    response = client.post(
        reverse("host_action", args=[site.host1.pk, "stop"]), {"next": site.group1.get_absolute_url()}
    )
    assert response["Location"] == site.group1.get_absolute_url()
    build = Build.objects.get()
    assert (build.action, build.host_name, build.requested_by) == (Action.STOP, "server", None)
    client.post(reverse("host_action", args=[site.host1.pk, "remove"]))
    client.post(reverse("host_action", args=[site.host1.pk, "start"]), {"next": "https://elsewhere.example/"})
    assert list(Build.objects.values_list("action", flat=True).order_by("pk")) == [Action.STOP, Action.START]


def test_the_console_page_of_a_stopped_host_says_so_and_offers_a_start(client, site):
    site.host1.state = HostState.STOPPED
    site.host1.save()
    holding(client, site.group1.token)
    page = client.get(reverse("console", args=[site.host1.pk])).content.decode()
    assert "server is off" in page and reverse("host_action", args=[site.host1.pk, "start"]) in page


# --- admin -------------------------------------------------------------------------------------


def test_staff_see_hosts_builds_daemons_and_queues_in_the_admin(client, site):
    as_user(client, site.root)
    site.root.is_superuser = True
    site.root.save()
    builds.submit(site.project1, Action.BUILD, "localhost")
    for url in (
        "/admin/projects/host/",
        "/admin/projects/build/",
        "/admin/projects/course/",
        "/admin/projects/group/",
        "/admin/projects/project/",
        "/admin/rq/",
    ):
        assert client.get(url).status_code == 200, url
    page = client.get(reverse("daemon-status")).content.decode()
    assert f"mln.{site.service_host}" in page and "failed" in page
    assert django_rq.get_connection("default").ping()
