"""What is configured but not yet in effect in a running guest is shown as pending, and applied by a restart."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from daemon.agent.reports import HostReport
from daemon.cluster.builds import Build
from projects.access import SESSION_TOKENS
from projects.choices import Action, HostState
from projects.models import Host, Project
from templates_registry.models import Template
from tests import factories
from tests.factories import OSCOURSE, OSCOURSE_HEADER, table_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def conf_allowing_the_courses_display(tmp_path, monkeypatch):
    """The article's course pins `vncdisplay 300`: this site's administrator allows 300-399."""
    base = Path(os.environ.get("MLN_CONF") or "/nonexistent")
    path = tmp_path / "mln.conf"
    path.write_text((base.read_text() if base.is_file() else "") + "\nvncdisplay_range 300-399\n")
    monkeypatch.setenv("MLN_CONF", str(path))


def inputs(password="hunter22", memory="128M", vncpasswd="v" * 16):
    master = OSCOURSE.replace("    memory 128M\n", f"    memory {memory}\n")
    table = table_bytes(OSCOURSE_HEADER, ("01", password, "r" * 16, vncpasswd))
    return factories.CourseInputs("oscourse.mln", {"oscourse.mln": master}, "groups.csv", table)


def report(project, state):
    """What the project's daemon says of its hosts (Project.record_hosts), every host in `state`."""
    project.record_hosts(
        [
            HostReport(h.name, h.template, 128 << 20, "sh1", state, f"{project.name}.{h.name}", None, "", {})
            for h in project.hosts.all()
        ],
        [],
    )


@pytest.fixture
def running_course(instructor):
    course = factories.make_course(instructor, inputs=inputs())
    report(Project.objects.get(), HostState.RUNNING)
    return course


@pytest.fixture
def instructor(client):
    for name in ("os_linux_1.ext3", "winXP.template"):
        Template.objects.create(name=name, image=f"/nonexistent/{name}", format="raw", virtual_size=1 << 20)
    user = factories.instructor("ada")
    client.force_login(user)
    return user


def pending_texts(name):
    return [p.text for p in Host.objects.get(name=name).pending()]


def test_a_running_host_shows_a_changed_password_and_memory_as_pending(running_course):
    assert pending_texts("ubuntu") == []
    running_course.apply(inputs(password="hunter23", memory="96M"))
    assert pending_texts("ubuntu") == ["memory 128M -> 96M", "password of osuser01 changed"]
    assert pending_texts("win") == ["password of osuser01 changed"]
    # What the guest runs with is still the old: the row keeps what its daemon reported.
    ubuntu = Host.objects.get(name="ubuntu")
    assert ubuntu.memory == 128 << 20 and ubuntu.in_effect["users"] == {"osuser01": "hunter22"}


def test_a_later_report_of_the_still_running_host_keeps_it_pending(running_course):
    running_course.apply(inputs(password="hunter23"))
    report(Project.objects.get(), HostState.RUNNING)
    assert pending_texts("ubuntu") == ["password of osuser01 changed"]


def test_a_stop_and_a_start_take_what_was_pending(running_course):
    running_course.apply(inputs(password="hunter23"))
    project = Project.objects.get()
    report(project, HostState.STOPPED)
    assert pending_texts("ubuntu") == []  # a stopped guest takes its configuration as it starts
    report(project, HostState.RUNNING)
    assert pending_texts("ubuntu") == []
    assert Host.objects.get(name="ubuntu").in_effect["users"] == {"osuser01": "hunter23"}


def test_students_see_the_password_in_effect_and_the_pending_one_in_plain_words(client, running_course):
    running_course.apply(inputs(password="hunter23"))
    group = running_course.groups.get()
    client.logout()
    session = client.session
    session[SESSION_TOKENS] = [group.token]
    session.save()
    page = client.get(reverse("group", args=[group.pk])).content.decode()
    credentials = page[page.index("Your credentials") :]
    assert '<code class="secret">hunter22</code>' in credentials and "hunter23" not in credentials
    assert "<strong>ubuntu</strong> has changes that take effect at its next start" in page
    assert 'After the next start: <code>osuser01</code> / <code class="secret">hunter23</code>' in page
    assert "Restart ubuntu to apply" not in page


def test_the_instructor_restarts_a_host_to_apply_its_pending_changes(client, running_course):
    running_course.apply(inputs(password="hunter23", memory="96M"))
    project, ubuntu = Project.objects.get(), Host.objects.get(name="ubuntu")
    page = client.get(reverse("project", args=[project.pk])).content.decode()
    assert "Pending on ubuntu" in page and "memory 128M -&gt; 96M" in page and "takes effect at the next start" in page
    url = reverse("host_apply_pending", args=[project.pk, ubuntu.pk])
    assert url in page

    client.post(url)

    stop, start = Build.objects.filter(project=project).order_by("pk")
    assert (stop.action, stop.host_name, start.action, start.host_name) == (
        Action.STOP,
        "ubuntu",
        Action.START,
        "ubuntu",
    )
    assert start.after_id == stop.pk  # the start runs only after the shut-down


def test_a_host_with_nothing_pending_is_not_restarted(client, running_course):
    project, ubuntu = Project.objects.get(), Host.objects.get(name="ubuntu")
    client.post(reverse("host_apply_pending", args=[project.pk, ubuntu.pk]))
    assert not Build.objects.exists()


def test_another_instructors_host_cannot_be_restarted(client, running_course):
    project, ubuntu = Project.objects.get(), Host.objects.get(name="ubuntu")
    running_course.apply(inputs(password="hunter23"))
    client.force_login(factories.instructor("eve"))
    assert client.post(reverse("host_apply_pending", args=[project.pk, ubuntu.pk])).status_code == 404
    assert not Build.objects.exists()
