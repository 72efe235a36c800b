"""start, stop (-h on one host) and remove on libvirt's test driver."""

from projects.choices import Action, BuildStatus, HostState, ProjectState
from tests.factories import ldaptest, save_project

from .test_build import run


def states(hypervisor):
    return {d: hypervisor.domain_state(d).state for d in ("ldaptest.ldapclient", "ldaptest.ldapserver")}


def test_start_and_stop_the_whole_project(libvirt_test, mln_conf, tiny):
    project = save_project(ldaptest())
    run(project, Action.BUILD, mln_conf)
    assert run(project, Action.START, mln_conf).status == BuildStatus.SUCCEEDED
    assert set(states(libvirt_test).values()) == {"running"}
    project.refresh_from_db()
    assert project.state == ProjectState.RUNNING
    assert {h.state for h in project.hosts.all()} == {HostState.RUNNING}
    assert run(project, Action.STOP, mln_conf).status == BuildStatus.SUCCEEDED
    assert set(states(libvirt_test).values()) == {"shut off"}


def test_start_and_stop_one_host_with_h(libvirt_test, mln_conf, tiny):
    project = save_project(ldaptest())
    run(project, Action.BUILD, mln_conf)
    run(project, Action.START, mln_conf, host_name="ldapserver")
    assert states(libvirt_test) == {"ldaptest.ldapclient": "shut off", "ldaptest.ldapserver": "running"}
    run(project, Action.START, mln_conf)
    run(project, Action.STOP, mln_conf, host_name="ldapclient")
    assert states(libvirt_test) == {"ldaptest.ldapclient": "shut off", "ldaptest.ldapserver": "running"}


def test_starting_twice_is_harmless(libvirt_test, mln_conf, tiny):
    project = save_project(ldaptest())
    run(project, Action.BUILD, mln_conf)
    run(project, Action.START, mln_conf)
    again = run(project, Action.START, mln_conf)
    assert again.status == BuildStatus.SUCCEEDED
    assert again.events.filter(step="start", message="already running").count() == 2


def test_an_unknown_host_is_refused(libvirt_test, mln_conf, tiny):
    project = save_project(ldaptest())
    run(project, Action.BUILD, mln_conf)
    build = run(project, Action.START, mln_conf, host_name="nosuch")
    assert build.status == BuildStatus.FAILED
    assert build.error == "project ldaptest has no host nosuch on localhost"


def test_starting_an_unbuilt_project_says_so_and_starts_nothing(libvirt_test, mln_conf, tiny):
    build = run(save_project(ldaptest()), Action.START, mln_conf)
    assert build.status == BuildStatus.FAILED
    assert build.error == "start ldapclient: not built: run mln build for project ldaptest"


def test_remove_leaves_no_domain_network_volume_or_file(libvirt_test, mln_conf, tiny):
    project = save_project(ldaptest(nat=True))
    run(project, Action.BUILD, mln_conf)
    run(project, Action.START, mln_conf)
    assert run(project, Action.REMOVE, mln_conf).status == BuildStatus.SUCCEEDED
    assert not libvirt_test.project_objects("ldaptest")
    assert [d.name() for d in libvirt_test.conn.listAllDomains()] == ["test"]  # the driver's own
    assert not (mln_conf.projects / "ldaptest").exists()
    project.refresh_from_db()
    assert project.state == ProjectState.REMOVED
    assert {h.state for h in project.hosts.all()} == {HostState.ABSENT}
    assert run(project, Action.REMOVE, mln_conf).status == BuildStatus.SUCCEEDED  # twice is harmless


def test_a_start_that_fails_stops_the_hosts_it_started(libvirt_test, mln_conf, tiny):
    project = save_project(ldaptest())
    run(project, Action.BUILD, mln_conf)
    libvirt_test.undefine("ldaptest.ldapserver")  # someone removed it by hand: its start fails after ldapclient's
    build = run(project, Action.START, mln_conf)
    assert build.status == BuildStatus.FAILED
    assert build.error == "start ldapserver: not built: run mln build for project ldaptest"
    assert states(libvirt_test) == {"ldaptest.ldapclient": "shut off", "ldaptest.ldapserver": "undefined"}
    assert build.events.filter(step="start", host_name="ldapclient", message="started").exists()  # it did start
    project.refresh_from_db()
    assert project.state != ProjectState.RUNNING
    assert {h.name: h.state for h in project.hosts.all()} == {
        "ldapclient": HostState.STOPPED,
        "ldapserver": HostState.ABSENT,
    }


def test_a_failed_start_leaves_running_what_was_running_before_it(libvirt_test, mln_conf, tiny):
    project = save_project(ldaptest())
    run(project, Action.BUILD, mln_conf)
    run(project, Action.START, mln_conf, host_name="ldapclient")
    libvirt_test.undefine("ldaptest.ldapserver")
    assert run(project, Action.START, mln_conf).status == BuildStatus.FAILED
    assert states(libvirt_test)["ldaptest.ldapclient"] == "running"
