"""Shut down on qemu:///system with a real tiny guest: its acpid answers the power button
and the guest goes off by itself before the timeout; a guest that cannot answer in time
(`shutdown_timeout 0`, still booting) is powered off, and the log says so."""

import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from daemon import conf as mlnconf
from daemon.agent.hypervisor import Hypervisor
from projects.choices import Action, BuildStatus, EventLevel
from templates_registry.models import Template
from tests.factories import one_host, save_project

from .test_build import run

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(600)]

URI = "qemu:///system"
ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "var" / "templates"
BOOT_TIMEOUT = 180  # TCG on two shared cores
SHUTDOWN_TIMEOUT = 90


def virsh(*args):
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True).stdout


@pytest.fixture
def lab(db, monkeypatch):
    """An mln.conf on qemu:///system, the real tiny template, a project name no one else uses;
    whatever the test made is removed even when it fails."""
    try:
        Hypervisor(URI).close()
    except Exception as exc:  # noqa: BLE001 -- any failure to connect means no qemu here
        pytest.skip(f"qemu:///system is not reachable: {exc}")
    subprocess.run([str(ROOT / "templates_registry" / "tiny" / "build.sh"), str(TEMPLATES)], check=True)
    folder = Path(tempfile.mkdtemp(prefix="qemu-shutdown-", dir=ROOT / "var"))
    folder.chmod(0o755)
    kernel = sorted(Path("/boot").glob("vmlinuz-*"))[-1]
    path = folder / "mln.conf"
    path.write_text(
        f"projects {folder / 'projects'}\nlibvirt_uri {URI}\nkernel {kernel}\n"
        f"initrd {TEMPLATES / 'tiny-initrd.img'}\nshutdown_timeout {SHUTDOWN_TIMEOUT}\n"
    )
    monkeypatch.setenv("MLN_CONF", str(path))
    Template.register(TEMPLATES / "tiny.ext4", name="tiny", boot="pv")
    name = f"sd{os.getpid()}x{int(time.time()) % 100000}"
    project = save_project(one_host(name, "h1"), source=f"global {{ project {name} }}\n")
    conf = mlnconf.load()
    try:
        yield project, conf, folder / "projects" / name / "h1.console.log"
    finally:
        run(project, Action.REMOVE, conf)
        for domain in virsh("list", "--all", "--name").split():
            if domain.startswith(f"{name}."):
                virsh("destroy", domain)
                virsh("undefine", domain)
        shutil.rmtree(folder, ignore_errors=True)


def wait_for(log, pattern, after=0):
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if re.search(pattern, text[after:]):
            return len(text)
        time.sleep(1)
    text = log.read_text(errors="replace") if log.exists() else ""
    pytest.fail(f"no {pattern!r} in the serial log in time:\n{text[-2000:]}")


def state(project):
    with Hypervisor(URI) as hv:
        return hv.domain_state(f"{project.name}.h1").state


def test_a_tiny_guest_shuts_down_by_itself_before_the_timeout(lab):
    project, conf, log = lab
    assert run(project, Action.BUILD, conf).status == BuildStatus.SUCCEEDED
    assert run(project, Action.START, conf).status == BuildStatus.SUCCEEDED
    up = wait_for(log, r"GUEST-UP")
    began = time.monotonic()
    build = run(project, Action.STOP, conf)
    took = time.monotonic() - began
    assert build.status == BuildStatus.SUCCEEDED, build.error
    assert list(build.events.filter(step="shut down").values_list("message", flat=True)) == ["shut down"]
    assert not build.events.filter(level=EventLevel.WARNING).exists()  # not powered off
    assert not build.events.filter(step="power off").exists()
    assert took < SHUTDOWN_TIMEOUT, took
    assert state(project) == "shut off"
    text = log.read_text(errors="replace")[up:]
    assert "going down" in text.lower(), text[-2000:]  # busybox init ran its shutdown: the guest chose to go
    print(f"shut down took {took:.1f} s (timeout {SHUTDOWN_TIMEOUT} s)")


def test_a_guest_that_does_not_answer_in_time_is_powered_off_and_the_log_says_so(lab):
    project, conf, log = lab
    assert run(project, Action.BUILD, conf).status == BuildStatus.SUCCEEDED
    assert run(project, Action.START, conf).status == BuildStatus.SUCCEEDED
    # Still booting, its acpid not up yet, and given no time at all.
    build = run(project, Action.STOP, dataclasses.replace(conf, shutdown_timeout=0))
    assert build.status == BuildStatus.SUCCEEDED, build.error
    warning = build.events.get(level=EventLevel.WARNING)
    assert warning.message == "powered off: the guest did not shut down within 0 s"
    assert state(project) == "shut off"
