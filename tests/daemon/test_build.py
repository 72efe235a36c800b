"""Building a project on libvirt's test driver: what libvirt holds afterwards."""

import pytest

from daemon.agent import libvirt_xml
from daemon.cluster import builds, runner
from projects.choices import Action, BuildStatus, EventLevel, HostState, ProjectState
from tests.factories import ldaptest, save_project


def run(project, action, conf, host_name="", progress=None, **options):
    build = builds.submit(project, action, "localhost", host_name=host_name, options=options)
    return runner.run(build, conf, progress=progress)


def built(hypervisor):
    objects = hypervisor.project_objects("ldaptest")
    macs = {d: hypervisor.domain_state(d).macs for d in objects.domains}
    passwords = {d: hypervisor.vnc_password(d) for d in objects.domains}
    return objects, macs, passwords


def test_build_defines_one_domain_per_host_and_one_network_per_switch(libvirt_test, mln_conf, tiny):
    build = run(save_project(ldaptest()), Action.BUILD, mln_conf)
    assert build.status == BuildStatus.SUCCEEDED, build.error
    objects = libvirt_test.project_objects("ldaptest")
    assert objects.domains == ["ldaptest.ldapclient", "ldaptest.ldapserver"]
    assert objects.networks == ["ldaptest.LDAPlan"]
    assert objects.pools == ["mln.ldaptest"]
    assert objects.volumes == ["ldapclient.qcow2", "ldapserver.qcow2"]
    server = libvirt_test.domain_state("ldaptest.ldapserver")
    assert server.state == "shut off" and server.memory == 256 << 20
    assert server.macs == [libvirt_xml.mac_address("ldaptest", "ldapserver", "eth0")]
    assert (mln_conf.projects / "ldaptest" / "ldapserver.seed.img").is_file()


def test_build_records_hosts_and_events(libvirt_test, mln_conf, tiny):
    project = save_project(ldaptest())
    build = run(project, Action.BUILD, mln_conf)
    project.refresh_from_db()
    assert project.state == ProjectState.BUILT
    hosts = {h.name: h for h in project.hosts.all()}
    assert hosts["ldapserver"].state == HostState.STOPPED
    assert hosts["ldapserver"].addresses == {"eth0": "10.0.0.2"}
    assert len(hosts["ldapclient"].vnc_password) >= 8
    events = list(build.events.all())
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].done == events[-1].total == 1 + 1 + 3 * 2
    warnings = [e.message for e in events if e.level == EventLevel.WARNING]
    assert any(w.startswith("xen: built as a test guest") for w in warnings)


def test_building_twice_converges_on_the_same_guests(libvirt_test, mln_conf, tiny):
    project = save_project(ldaptest())
    run(project, Action.BUILD, mln_conf)
    first = built(libvirt_test)
    second_build = run(project, Action.BUILD, mln_conf)
    assert second_build.status == BuildStatus.SUCCEEDED, second_build.error
    assert built(libvirt_test) == first
    assert {e.message for e in second_build.events.filter(step__in=["disk", "switch", "storage"])} == {"already there"}


class Killed(BaseException):
    """What a SIGKILL looks like from inside: nothing after it runs, no undo."""


def kill_after(steps):
    seen = []

    def progress(event):
        if event.level == EventLevel.INFO:
            seen.append(event)
        if len(seen) == steps:
            raise Killed()

    return progress


@pytest.mark.parametrize("steps", [1, 3, 5])
def test_a_build_killed_half_way_is_finished_by_the_next_one(libvirt_test, mln_conf, tiny, steps):
    project = save_project(ldaptest())
    with pytest.raises(Killed):
        run(project, Action.BUILD, mln_conf, progress=kill_after(steps))
    assert libvirt_test.project_objects("ldaptest")  # something was left half-made
    assert project.builds.get().status == BuildStatus.RUNNING  # killed: it never said how it ended
    again = run(project, Action.BUILD, mln_conf)
    assert again.status == BuildStatus.SUCCEEDED
    killed = project.builds.exclude(pk=again.pk).get()
    assert (killed.status, killed.error) == (
        BuildStatus.FAILED,
        f"interrupted: the process running it stopped; build {again.pk} took over",
    )
    objects, _macs, _passwords = built(libvirt_test)
    assert objects.domains == ["ldaptest.ldapclient", "ldaptest.ldapserver"]
    assert objects.volumes == ["ldapclient.qcow2", "ldapserver.qcow2"]
    removal = run(project, Action.REMOVE, mln_conf)
    assert removal.status == BuildStatus.SUCCEEDED, removal.error
    assert not libvirt_test.project_objects("ldaptest")
    assert not (mln_conf.projects / "ldaptest").exists()


def test_unknown_template_fails_before_anything_is_made_naming_file_and_line(libvirt_test, mln_conf, tiny):
    spec = ldaptest()
    spec.hosts["ldapserver"].template = "ubuntu-ldap.ext3"
    build = run(save_project(spec), Action.BUILD, mln_conf)
    assert build.status == BuildStatus.FAILED
    assert build.error == "ldaptest.mln:22:1: host ldapserver: unknown template 'ubuntu-ldap.ext3'"
    assert not libvirt_test.project_objects("ldaptest")
    assert not (mln_conf.projects / "ldaptest").exists()


def test_a_failed_step_names_host_and_step_and_undoes_the_run(libvirt_test, mln_conf, tiny):
    spec = ldaptest()
    spec.hosts["ldapserver"].plugins = {"sshkey": {"root": "/no/such/key.pub"}}
    build = run(save_project(spec), Action.BUILD, mln_conf)
    assert build.status == BuildStatus.FAILED
    assert build.error.startswith("seed ldapserver: host ldapserver")
    assert "no such key file" in build.error
    assert not libvirt_test.project_objects("ldaptest")
    assert not (mln_conf.projects / "ldaptest").exists()
    assert build.project.state == ProjectState.FAILED


def test_free_space_is_refused_with_the_figures(libvirt_test, mln_conf, tiny):
    spec = ldaptest()
    spec.hosts["ldapclient"].free_space = 1 << 50
    build = run(save_project(spec), Action.BUILD, mln_conf)
    assert build.status == BuildStatus.FAILED
    assert "host ldapclient: free_space 1073741824 MiB wanted, the storage has" in build.error
    assert not libvirt_test.project_objects("ldaptest")


def test_nat_switches_get_distinct_subnets_from_the_pool(libvirt_test, mln_conf, tiny):
    run(save_project(ldaptest(nat=True)), Action.BUILD, mln_conf)
    other = ldaptest(nat=True)
    other.name = "ldaptest2"
    run(save_project(other), Action.BUILD, mln_conf)
    ours = [str(s) for s in libvirt_test.used_subnets() if str(s).startswith("10.250.")]
    assert sorted(ours) == ["10.250.0.0/24", "10.250.1.0/24"]


def test_small_memory_is_raised_to_what_guests_boot_with(libvirt_test, mln_conf, tiny):
    spec = ldaptest()
    spec.hosts["ldapclient"].memory = 64 << 20
    build = run(save_project(spec), Action.BUILD, mln_conf)
    assert libvirt_test.domain_state("ldaptest.ldapclient").memory == 96 << 20
    assert build.events.filter(level=EventLevel.WARNING, message__startswith="memory 64 MiB").exists()


def test_rebuild_removes_first(libvirt_test, mln_conf, tiny):
    project = save_project(ldaptest())
    run(project, Action.BUILD, mln_conf)
    build = run(project, Action.REBUILD, mln_conf)
    assert build.status == BuildStatus.SUCCEEDED, build.error
    assert build.events.filter(step="undefine").count() == 2
    assert libvirt_test.project_objects("ldaptest").domains == ["ldaptest.ldapclient", "ldaptest.ldapserver"]
