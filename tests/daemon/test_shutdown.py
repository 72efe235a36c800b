"""Shut down (the default stop), power off, reboot and reset on libvirt's test driver.

The test driver's guests answer a shut down at once; a guest that does not
answer within `shutdown_timeout` is powered off, which test_shutdown_qemu.py
shows on a real guest.
"""

import pytest

from daemon import conf as mlnconf
from projects import actions
from projects.choices import Action, BuildStatus, EventLevel, ProjectState
from tests.factories import ldaptest, save_project

from .test_build import run

DOMAINS = ("ldaptest.ldapclient", "ldaptest.ldapserver")


def states(hypervisor):
    return {d: hypervisor.domain_state(d).state for d in DOMAINS}


@pytest.fixture
def running(libvirt_test, mln_conf, tiny):
    project = save_project(ldaptest())
    assert run(project, Action.BUILD, mln_conf).status == BuildStatus.SUCCEEDED
    assert run(project, Action.START, mln_conf).status == BuildStatus.SUCCEEDED
    return project


def test_stop_is_a_shut_down_that_each_guest_answers(running, libvirt_test, mln_conf):
    build = run(running, Action.STOP, mln_conf)
    assert build.status == BuildStatus.SUCCEEDED, build.error
    assert set(states(libvirt_test).values()) == {"shut off"}
    said = list(build.events.filter(step="shut down").values_list("host_name", "message"))
    assert sorted(said) == [("ldapclient", "shut down"), ("ldapserver", "shut down")]
    assert not build.events.filter(level=EventLevel.WARNING).exists()
    running.refresh_from_db()
    assert running.state == ProjectState.STOPPED


def test_shutting_down_a_stopped_guest_says_it_was_already_stopped(running, libvirt_test, mln_conf):
    run(running, Action.STOP, mln_conf, host_name="ldapclient")
    build = run(running, Action.STOP, mln_conf)
    assert build.status == BuildStatus.SUCCEEDED
    assert dict(build.events.filter(step="shut down").values_list("host_name", "message")) == {
        "ldapclient": "already stopped",
        "ldapserver": "shut down",
    }


def test_power_off_switches_one_host_off_and_leaves_the_other(running, libvirt_test, mln_conf):
    build = run(running, Action.POWEROFF, mln_conf, host_name="ldapserver")
    assert build.status == BuildStatus.SUCCEEDED
    assert states(libvirt_test) == {"ldaptest.ldapclient": "running", "ldaptest.ldapserver": "shut off"}
    assert build.events.filter(step="power off", host_name="ldapserver", message="stopped").count() == 1


def test_reboot_and_reset_keep_running_guests_running(running, libvirt_test, mln_conf):
    for action, said in ((Action.REBOOT, "rebooted"), (Action.RESET, "reset")):
        build = run(running, action, mln_conf)
        assert build.status == BuildStatus.SUCCEEDED, build.error
        assert build.events.filter(step=action.value, message=said).count() == 2
        assert set(states(libvirt_test).values()) == {"running"}


def test_reboot_of_a_stopped_guest_fails_with_a_clear_reason(running, libvirt_test, mln_conf):
    run(running, Action.POWEROFF, mln_conf, host_name="ldapclient")
    build = run(running, Action.REBOOT, mln_conf, host_name="ldapclient")
    assert build.status == BuildStatus.FAILED
    assert build.error == "reboot ldapclient: ldaptest.ldapclient is not running: start it first"
    assert states(libvirt_test)["ldaptest.ldapclient"] == "shut off"


def test_the_shutdown_timeout_is_read_from_mln_conf_and_bounded(tmp_path):
    path = tmp_path / "mln.conf"
    path.write_text("")
    assert mlnconf.load(str(path)).shutdown_timeout == 60
    path.write_text("shutdown_timeout 5\n")
    assert mlnconf.load(str(path)).shutdown_timeout == 5
    path.write_text("shutdown_timeout 7200\n")
    with pytest.raises(mlnconf.ConfError, match="shutdown_timeout: 7200 is not between 0 and 3600"):
        mlnconf.load(str(path))


def test_pages_offer_shut_down_as_stop_with_power_off_reboot_and_reset_beside_it():
    assert actions.PAGE_ACTIONS["stop"] == Action.STOP and Action.STOP.label == "shut down"
    for verb in ("poweroff", "reboot", "reset"):
        assert actions.PAGE_ACTIONS[verb] == actions.STUDENT_ACTIONS[verb] == Action(verb)
