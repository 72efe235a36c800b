"""Live migration for real: a running tiny guest moves between two libvirtds, and does not reboot.

Two private libvirtds (tests/cluster/libvirt_pair.py: service hosts `left`
and `right`, each in namespaces of its own, distinct host UUIDs, a veth pair
between them) and two real `mln daemon` processes, one per libvirtd. The
project's folder is one folder under the san_path both mln.conf name, so only
memory moves. `mln build` and `mln start` put the guest on left; `mln upgrade`
with `service_host right` plans a live move and makes it. The guest's boot id
(random at every boot) and uptime, read on its serial console before and
after, say it kept running; the serial log (one file, written by the qemu of
each side in turn) has one GUEST-UP.
"""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from daemon.agent.hypervisor import Hypervisor
from projects.choices import MIGRATION_SIDES, BuildStatus
from projects.cli import main
from projects.models import Host, Project
from templates_registry.models import Template

from ..serial_console import SerialConsole
from .libvirt_pair import LibvirtPair, PairError

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "var" / "templates"
ROOT_PASSWORD = "tiny-root"
BOOT_TIMEOUT = 180  # TCG on two cores that other tests' guests may share

LAB = """global {{ project lab }}
switch lan {{ }}
host web {{
    template tiny
    memory 128M
    root_passwd {password}
    service_host {where}
    filepath {san}/lab
    network eth0 {{ switch lan
        address 10.0.0.2
        netmask 255.255.255.0 }}
}}
"""


@pytest.fixture
def pair():
    """Two libvirtds, always torn down: guests, daemons, namespaces, veth, folders."""
    if os.geteuid() != 0:
        pytest.skip("network and mount namespaces need root")
    pytest.importorskip("libvirt")
    # Guests' files where both libvirtds see them at the same path; a short path: UNIX sockets live here.
    (ROOT / "var").mkdir(exist_ok=True)
    libvirtds = LibvirtPair(ROOT / "var" / f"live-{os.getpid()}-{time.monotonic_ns() % 10**6}")
    try:
        libvirtds.start()
        yield libvirtds
    except PairError as exc:
        pytest.fail(f"two private libvirtds could not be set up: {exc}")
    finally:
        libvirtds.close()
        assert not libvirtds.leftovers()


@pytest.fixture
def lab(pair, cluster):
    """Daemons `left` and `right` on the pair, the real tiny template on the shared storage."""
    subprocess.run(
        [str(ROOT / "templates_registry" / "tiny" / "build.sh"), str(TEMPLATES)], check=True, capture_output=True
    )
    san = pair.root / "san"
    (san / "templates").mkdir(parents=True)
    template = san / "templates" / "tiny.ext4"
    shutil.copyfile(TEMPLATES / "tiny.ext4", template)
    Template.register(template, name="tiny", boot="pv")
    kernel = sorted(Path("/boot").glob("vmlinuz-*"))[-1]
    names = {}
    for libvirtd in pair:
        names[libvirtd.side] = cluster.start(
            libvirtd.side,
            extra=(
                f'libvirt_uri "{libvirtd.uri}"\nmigration_uri {libvirtd.migration_uri}\n'
                f"san_path {san}\nprojects {san / 'projects'}\nkernel {kernel}\n"
                f"initrd {TEMPLATES / 'tiny-initrd.img'}\nguest_memory 2G\n"
            ),
        )
    return (names["left"], names["right"]), san


def project_file(path, where, san):
    path.write_text(LAB.format(password=ROOT_PASSWORD, where=where, san=san))
    return path


def boot_of(console):
    """(boot id, uptime in seconds) as the running kernel tells them."""
    said, _ = console.run("echo BOOT $(cat /proc/sys/kernel/random/boot_id) $(cut -d' ' -f1 /proc/uptime) END", 30)
    found = re.search(r"BOOT ([0-9a-f-]{36}) ([\d.]+) END", said)
    return found[1], float(found[2])


def wait_for(path, pattern, timeout=BOOT_TIMEOUT):
    deadline = time.monotonic() + timeout
    while not (path.exists() and re.search(pattern, path.read_text(errors="replace"))):
        if time.monotonic() > deadline:
            pytest.fail(
                f"no {pattern!r} in {path} in {timeout} s:\n"
                + (path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)")
            )
        time.sleep(1)


def test_a_running_guest_moves_live_to_another_libvirtd_without_rebooting(pair, lab, cluster, tmp_path, capsys):
    (left, right), san = lab
    domain = "lab.web"
    assert main(["build", "-f", str(project_file(tmp_path / "lab.mln", left, san))]) == 0
    assert main(["start", "-p", "lab"]) == 0
    serial_log = san / "projects" / "lab" / "web.console.log"
    wait_for(serial_log, r"GUEST-UP web")

    console = SerialConsole(pair.left.uri, domain)
    try:
        console.login("root", ROOT_PASSWORD)
        boot_id, uptime = boot_of(console)
    finally:
        console.close(log_out=False)

    capsys.readouterr()
    moved = project_file(tmp_path / "moved.mln", right, san)
    assert main(["upgrade", "-f", str(moved), "--dry-run"]) == 0
    assert (
        f"lab: move web: {left} -> {right}, live (peer to peer, disks on {san})" in capsys.readouterr().out.splitlines()
    )
    started = time.monotonic()
    assert main(["upgrade", "-f", str(moved)]) == 0
    print(f"mln upgrade moved the guest live in {time.monotonic() - started:.1f} s")

    with Hypervisor(pair.right.uri) as target, Hypervisor(pair.left.uri) as source:
        assert target.domain_state(domain).state == "running"
        assert target.conn.lookupByName(domain).isPersistent()  # defined there for good
        assert source.domain_state(domain).state == "undefined"  # gone from left, not just stopped
        assert not source.project_objects("lab")  # nor its switch or pool (its disks stay, on the san)
        assert target.project_objects("lab").networks == ["lab.lan"]
    assert (san / "lab" / "lab" / "web.qcow2").exists()  # filepath {san}/lab: the disk is in <DIR>/<project>

    console = SerialConsole(pair.right.uri, domain)
    try:
        # The shell logged in on left is still there: the same kernel, not a new boot.
        after_id, after_uptime = boot_of(console)
    finally:
        console.close(log_out=False)
    assert after_id == boot_id
    assert after_uptime > uptime
    assert len(re.findall(r"GUEST-UP web", serial_log.read_text(errors="replace"))) == 1

    row = Host.objects.get(project__name="lab", name="web")
    assert (row.service_host, row.state) == (right, "running")
    project = Project.objects.get(name="lab")
    assert project.spec["hosts"]["web"]["service_host"] == right
    moves = project.builds.filter(action__in=MIGRATION_SIDES).order_by("created_at")
    assert [(m.service_host, MIGRATION_SIDES[m.action], m.status) for m in moves] == [
        (left, "live", BuildStatus.SUCCEEDED),
        (right, "arrived", BuildStatus.SUCCEEDED),
    ]

    # Left's libvirtd reaches right's over the veth, as the migration did (and the host's namespace does not).
    assert "right" in pair.left.in_netns("virsh", "-c", pair.right.migration_uri, "hostname")
