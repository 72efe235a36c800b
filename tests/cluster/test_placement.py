"""The scheduler spreads a course's groups over the live daemons and records where each went."""

import json

import pytest

from daemon import conf as mlnconf
from daemon.cluster import dispatch, heartbeat
from projects import actions, placement
from projects.choices import BuildStatus, ProjectState
from projects.cli import main
from projects.courses import expand_course
from projects.models import Host, Project
from projects.variable_table import read_table
from tests.factories import OSCOURSE, make_project, one_host, table_bytes


def course_projects(groups):
    table = read_table(
        "groups.csv",
        table_bytes(
            ["gnum", "userpasswd", "rpasswd", "vncpasswd"],
            *[[f"{n:02d}", "@random", "@random", "@random"] for n in range(1, groups + 1)],
        ),
    )
    expansion = expand_course("oscourse", "oscourse.mln", {"oscourse.mln": OSCOURSE}, table)
    projects = []
    for group in expansion.groups:
        project = Project.objects.create(
            name=group.project, source_name=group.source_name, source=group.source, spec=group.spec.to_dict()
        )
        Host.objects.bulk_create(r for r in project.derived_rows() if isinstance(r, Host))
        projects.append(project)
    return projects


def test_a_course_is_spread_over_the_daemons_and_built_there(cluster, templates, capsys):
    a, b = cluster.start("alpha"), cluster.start("beta")
    projects = course_projects(6)
    builds = actions.build_projects(projects, cluster.conf)
    dispatch.follow(builds, cluster.conf)
    assert all(b.status == BuildStatus.SUCCEEDED for b in builds), [b.error for b in builds]
    where = {p.name: Project.objects.get(pk=p.pk).spec["hosts"]["ubuntu"]["service_host"] for p in projects}
    assert sorted(where.values()) == sorted([a] * 3 + [b] * 3)
    assert set(Host.objects.values_list("service_host", flat=True)) == {a, b}
    capsys.readouterr()
    main(["status", "--json"])
    shown = {(r["project"], r["host"]): r["service_host"] for r in json.loads(capsys.readouterr().out)}
    assert shown[(projects[0].name, "win")] == where[projects[0].name]
    assert {r.state for r in Host.objects.all()} == {"stopped"}  # built, defined and reported by each daemon


def test_a_pinned_host_goes_to_its_daemon_and_the_least_loaded_daemon_takes_the_rest(cluster, templates):
    a = cluster.start("alpha", extra="guest_memory 1G\n")
    b = cluster.start("beta", extra="guest_memory 1G\n")
    projects = course_projects(3)
    projects[0].spec["hosts"]["win"]["service_host"] = b
    projects[0].save()
    chosen = placement.place(projects, heartbeat.live(cluster.redis), cluster.conf)
    # ubuntu 128M, win 256M. b starts with the pinned 256M: 1024/768, then 896/768, then 512/768.
    assert chosen == {projects[0].name: a, projects[1].name: a, projects[2].name: b}
    assert Project.objects.get(pk=projects[0].pk).spec["hosts"]["win"]["service_host"] == b


def test_no_daemon_with_enough_memory_is_a_clear_error(cluster, templates):
    alpha = cluster.start("alpha", extra="guest_memory 300M\n")
    projects = course_projects(2)
    with pytest.raises(
        placement.PlacementError,
        match=rf"project oscourse-1: its hosts without a service_host together "
        rf"ask 384 MiB of memory, more than {alpha} could ever offer \(300 MiB\)",
    ):
        placement.place(projects, heartbeat.live(cluster.redis), cluster.conf)


UNPINNED = """global { project cliplaced }
host solo {
    template tiny
    memory 128M
}
"""


def test_mln_build_places_unpinned_hosts_on_a_live_daemon_and_a_rebuild_keeps_them_there(cluster, templates, tmp_path):
    # alpha offers less, so beta (most memory left) is chosen, then kept even once alpha would win.
    cluster.start("alpha", extra="guest_memory 1G\n")
    beta = cluster.start("beta", extra="guest_memory 2G\n")
    path = tmp_path / "cliplaced.mln"
    path.write_text(UNPINNED)
    assert main(["build", "-f", str(path)]) == 0
    project = Project.objects.get(name="cliplaced")
    assert project.spec["hosts"]["solo"]["service_host"] == beta
    assert project.builds.get().service_host == beta  # built by beta's daemon, not in-process
    assert Host.objects.get(project=project).service_host == beta

    cluster.start("gamma", extra="guest_memory 8G\n")
    assert main(["build", "-r", "-f", str(path)]) == 0
    project.refresh_from_db()
    assert project.spec["hosts"]["solo"]["service_host"] == beta
    assert {b.service_host for b in project.builds.all()} == {beta}


# --- only built projects hold memory; no host may ask more than a daemon could ever offer --------


def pinned_draft(name, service_host, memory, state=ProjectState.NEW):
    """A project saved (as an upload or a failed build leaves it) whose one host is pinned."""
    return make_project(one_host(name, host="big", memory=memory, service_host=service_host), state=state)


def test_a_pinned_project_never_built_does_not_block_other_builds(cluster, templates):
    alpha = cluster.start("alpha", extra="guest_memory 1G\n")
    for state in (ProjectState.NEW, ProjectState.FAILED, ProjectState.REMOVED):
        pinned_draft(f"huge-{state}", alpha, 999999 << 30, state)
    projects = course_projects(2)
    builds = dispatch.follow(actions.build_projects(projects, cluster.conf), cluster.conf)
    assert [b.status for b in builds] == [BuildStatus.SUCCEEDED] * 2, [b.error for b in builds]


@pytest.mark.parametrize("state", [ProjectState.BUILT, ProjectState.RUNNING, ProjectState.STOPPED])
def test_the_hosts_of_built_projects_hold_their_memory(db, state):
    pinned_draft("built", "alpha", 768 << 20, state)
    live = {"alpha": {"guest_memory": 1 << 30, "memory": 4 << 30}}
    with pytest.raises(placement.PlacementError, match=r"384 MiB left for its hosts; the most is 256 MiB on alpha"):
        placement.place(course_projects(1), live, mlnconf.load())


def test_a_pinned_host_asking_more_than_its_daemon_could_ever_offer_is_refused(db):
    project = pinned_draft("huge", "alpha", 999999 << 30)
    live = {"alpha": {"guest_memory": None, "memory": 4 << 30, "free_memory": 3 << 30}}
    with pytest.raises(placement.PlacementError) as refused:
        placement.place([project], live, mlnconf.load())
    assert str(refused.value) == (
        "project huge: host big asks 1023998976 MiB of memory, more than alpha could ever offer (4096 MiB)"
    )


def test_unpinned_hosts_asking_more_than_any_daemon_could_ever_offer_are_refused(db):
    projects = course_projects(1)
    live = {"alpha": {"guest_memory": 256 << 20}, "beta": {"guest_memory": 300 << 20}}
    with pytest.raises(placement.PlacementError) as refused:
        placement.place(projects, live, mlnconf.load())
    assert str(refused.value) == (
        f"project {projects[0].name}: its hosts without a service_host together ask "
        "384 MiB of memory, more than beta could ever offer (300 MiB)"
    )
