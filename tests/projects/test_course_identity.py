"""A group, its project and its hosts keep their identity and reported state through course updates."""

import os
from pathlib import Path

import pytest

from daemon.agent.reports import HostReport
from projects.choices import HostState
from projects.models import Group, Host, Project
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


def inputs(rows, table_name="groups.csv", master=OSCOURSE):
    return factories.CourseInputs(
        "oscourse.mln", {"oscourse.mln": master}, table_name, table_bytes(OSCOURSE_HEADER, *rows)
    )


ROWS = [("01", "u" * 16, "r" * 16, "v" * 16), ("02", "u" * 16, "r" * 16, "v" * 16)]


def report_running(project, port=5901):
    """What a daemon reports of the project's hosts after starting them (Project.record_hosts)."""
    project.record_hosts(
        [
            HostReport(
                h.name, h.template, 96 << 20, "sh1", HostState.RUNNING, f"{project.name}.{h.name}", port + i, "pw", {}
            )
            for i, h in enumerate(project.hosts.order_by("name"))
        ],
        [],
    )


def snapshot(course):
    return {
        (h.project.name, h.name): (h.pk, h.state, h.vnc_port, h.service_host, h.memory, h.domain_name)
        for h in course.hosts().select_related("project")
    }


def test_a_table_under_another_file_name_keeps_every_row_and_reported_state(instructor):
    course = factories.make_course(instructor, inputs=inputs(ROWS))
    for project in Project.objects.all():
        report_running(project)
    groups = {g.pk: (g.token, g.project.pk) for g in course.groups_with_projects()}
    before = snapshot(course)

    course.apply(inputs(ROWS, table_name="groups-renamed.csv"))

    assert snapshot(course) == before
    assert {g.pk: (g.token, g.project.pk) for g in course.groups_with_projects()} == groups
    assert all(s == HostState.RUNNING for _, s, *_ in before.values())
    # The stored file is the new one (its header names the new table), the tree the same.
    assert "groups-renamed.csv" in Project.objects.get(name="os-1").source


def test_a_changed_group_keeps_its_host_rows_and_their_reported_state(instructor):
    course = factories.make_course(instructor, inputs=inputs(ROWS))
    for project in Project.objects.all():
        report_running(project)
    before = snapshot(course)

    changed = [ROWS[0], ("02", "u" * 16, "r" * 16, "w" * 16)]  # group 2's win gets another VNC password
    course.apply(inputs(changed))

    assert snapshot(course) == before  # same ids, still running, same console port and service host
    assert Project.objects.get(name="os-2").spec["hosts"]["win"]["vncpasswd"] == "w" * 16


def test_only_removed_hosts_lose_their_rows_and_added_hosts_get_new_ones(instructor):
    course = factories.make_course(instructor, inputs=inputs(ROWS))
    for project in Project.objects.all():
        report_running(project)
    ubuntu = Host.objects.get(project__name="os-1", name="ubuntu")
    without_win = (
        OSCOURSE[: OSCOURSE.index("host win")] + "host mac {\n    superclass common\n    template os_linux_1.ext3\n}\n"
    )

    course.apply(inputs(ROWS, master=without_win))

    kept = Host.objects.get(project__name="os-1", name="ubuntu")
    assert (kept.pk, kept.state, kept.vnc_port) == (ubuntu.pk, HostState.RUNNING, ubuntu.vnc_port)
    assert not Host.objects.filter(name="win").exists()
    mac = Host.objects.get(project__name="os-1", name="mac")
    assert mac.state == HostState.ABSENT and mac.template == "os_linux_1.ext3"  # never reported: from the spec


def test_a_group_keeps_its_id_and_token_when_rows_are_added_above_it(instructor):
    course = factories.make_course(instructor, inputs=inputs(ROWS))
    group = Group.objects.get(project__name="os-1")
    master = OSCOURSE + "\nglobal { project os$[gnum] }\n"
    course.apply(inputs(ROWS, master=master))  # every project renamed: groups are new
    renamed = {g.project.name: g.pk for g in course.groups_with_projects()}
    assert group.pk not in renamed.values()

    course.apply(inputs([("00", "u" * 16, "r" * 16, "v" * 16), *ROWS], master=master))

    now = {g.project.name: (g.pk, g.row) for g in course.groups_with_projects()}
    assert now["os01"] == (renamed["os01"], 2) and now["os02"] == (renamed["os02"], 3)
