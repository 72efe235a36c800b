"""A start that fails says every step it undid (libvirt's test driver); a pinned display whose port
is taken is refused first (test_reconcile_start_qemu.py)."""

import socket

import pytest

from projects.choices import Action, BuildStatus, EventLevel
from tests.factories import ldaptest, save_project

from .test_build import run


def states(hypervisor):
    return {d: hypervisor.domain_state(d).state for d in ("ldaptest.ldapclient", "ldaptest.ldapserver")}


@pytest.fixture
def taken_display():
    """A display of vncdisplay_range (0-99) whose port something on this machine listens on."""
    for display in range(60, 100):
        holder = socket.socket()
        try:
            holder.bind(("127.0.0.1", 5900 + display))
        except OSError:
            holder.close()
            continue
        holder.listen()
        try:
            yield display
        finally:
            holder.close()
        return
    pytest.skip("no free port in 5960-5999 to hold")


def test_a_failed_start_says_each_host_it_stopped_again(libvirt_test, mln_conf, tiny):
    project = save_project(ldaptest())
    run(project, Action.BUILD, mln_conf)
    libvirt_test.undefine("ldaptest.ldapserver")  # its start fails after ldapclient's
    build = run(project, Action.START, mln_conf)
    assert build.status == BuildStatus.FAILED
    assert states(libvirt_test)["ldaptest.ldapclient"] == "shut off"
    undone = build.events.filter(step__startswith="undid:")
    assert [(e.step, e.host_name, e.level) for e in undone] == [("undid: start", "ldapclient", EventLevel.WARNING)]
    started = build.events.get(step="start", host_name="ldapclient")
    assert undone.get().seq > started.seq  # said after the start it undoes


def test_a_build_its_plan_refuses_undoes_nothing(libvirt_test, mln_conf, tiny):
    spec = ldaptest()
    spec.hosts["ldapserver"].template = "nosuch-but-planned"  # planning refuses before anything is made
    build = run(save_project(spec), Action.BUILD, mln_conf)
    assert build.status == BuildStatus.FAILED
    assert not build.events.filter(step__startswith="undid:").exists()  # nothing was made, nothing undone


def test_a_start_that_succeeds_says_nothing_undone(libvirt_test, mln_conf, tiny):
    project = save_project(ldaptest())
    run(project, Action.BUILD, mln_conf)
    build = run(project, Action.START, mln_conf)
    assert build.status == BuildStatus.SUCCEEDED
    assert not build.events.filter(step__startswith="undid:").exists()


def test_the_test_driver_runs_no_display_so_a_taken_port_is_not_its_concern(
    libvirt_test, mln_conf, tiny, taken_display
):
    spec = ldaptest()
    spec.hosts["ldapserver"].vncdisplay = taken_display
    project = save_project(spec)
    run(project, Action.BUILD, mln_conf)
    assert run(project, Action.START, mln_conf).status == BuildStatus.SUCCEEDED
