"""A course's guests through updates, with the real runner on libvirt's test driver: rows, states and pending."""

import uuid

import pytest

from daemon import conf as mlnconf
from daemon.cluster import builds, runner
from daemon.cluster.builds import Build
from projects import course_upgrade
from projects.choices import Action, BuildStatus, HostState
from projects.courses import CourseInputs
from projects.models import Host
from tests import factories
from tests.daemon.conftest import libvirt_test, mln_conf, tiny  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

MASTER = """host web {
    template tiny
    memory 64M
    users {
        student $pw
    }
}
"""


def inputs(table_name="groups.csv", passwords=("hunter22", "hunter22")):
    table = factories.table_bytes(("pw",), *[(p,) for p in passwords])
    return CourseInputs("lab.mln", {"lab.mln": MASTER}, table_name, table)


def run(build, conf):
    build = runner.run(build, conf)
    assert build.status == BuildStatus.SUCCEEDED, build.error
    return build


@pytest.fixture
def running_course(libvirt_test, mln_conf, tiny):  # noqa: F811
    short_name = f"id{uuid.uuid4().hex[:6]}"  # libvirt's test driver is shared by the whole test process
    course = factories.make_course(
        factories.instructor(), short_name=short_name, inputs=inputs(), master_name="lab.mln"
    )
    conf = mlnconf.load()
    projects = [g.project for g in course.groups_with_projects()]
    try:
        for project in projects:
            run(builds.submit(project, Action.BUILD, "localhost"), conf)
            run(builds.submit(project, Action.START, "localhost"), conf)
        yield course
    finally:
        for project in projects:
            runner.run(builds.submit(project, Action.REMOVE, "localhost"), conf)


def rows(course):
    return {
        (h.project.name, h.name): (h.pk, h.state, h.domain_name, h.service_host)
        for h in course.hosts().select_related("project")
    }


def test_a_renamed_table_keeps_every_running_hosts_row_and_state(running_course, libvirt_test):  # noqa: F811
    before = rows(running_course)
    assert {state for _, state, _, _ in before.values()} == {HostState.RUNNING}

    assert course_upgrade.upgrade(running_course, inputs(table_name="groups-spring.csv")) == []

    assert rows(running_course) == before
    for _, _, domain, _ in before.values():
        assert libvirt_test.domain_state(domain).state == "running"


def test_a_changed_password_is_pending_until_the_instructor_restarts_the_host(running_course, libvirt_test):  # noqa: F811
    conf = mlnconf.load()
    before = rows(running_course)
    chain = course_upgrade.upgrade(running_course, inputs(passwords=("hunter22", "hunter23")))
    for build in chain:  # what the daemon runs, in order
        run(build, conf)

    assert rows(running_course) == before  # same rows, still running: the console links stay
    second = running_course.groups.get(row=2).project
    web = Host.objects.get(project=second, name="web")
    assert [p.text for p in web.pending()] == ["password of student changed"]
    assert web.in_effect["users"] == {"student": "hunter22"}
    assert Host.objects.get(project=running_course.groups.get(row=1).project).pending() == []

    restart = web.apply_pending()
    assert [b.action for b in restart] == [Action.STOP, Action.START]
    for build in Build.objects.filter(pk__in=[b.pk for b in restart]).order_by("pk"):
        run(build, conf)

    web = Host.objects.get(pk=web.pk)
    assert web.state == HostState.RUNNING and web.pending() == []
    assert web.in_effect["users"] == {"student": "hunter23"}
    assert libvirt_test.domain_state(web.domain_name).state == "running"
