"""End to end on qemu:///system: the article's Listing 1 with `template tiny`, real guests.

One project serves the whole module, in the order a user goes: a real
`mln build` killed half-way and built again, start, both guests up, the
static guest's address, a root login on each serial console that pings the
other guest over the switch, each VNC port's greeting; then export -z,
remove, import and start; last, remove leaves nothing in libvirt or on disk.
The module's teardown removes whatever a failed test left behind.

Database rows are made outside the per-test transactions (the project lives
across the module's tests, and a real `mln build` process writes to the
same test database), and are deleted at the end.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection

from daemon.agent.hypervisor import Hypervisor, HypervisorError
from projects.choices import BuildStatus
from projects.cli import main
from projects.models import Build, Project
from templates_registry.models import Template

from ..serial_console import SerialConsole

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(900)]

URI = "qemu:///system"
ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "var" / "templates"
LISTING_1 = Path("/work/shared/examples/mln/ldaptest.mln")
MLN = Path(sys.executable).parent / "mln"
HOSTS = ("ldapclient", "ldapserver")
ROOT_PASSWORD = "tiny-root"
BOOT_TIMEOUT = 180  # two guests under TCG on two shared cores


def virsh(*args):
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True).stdout


def listing_1_with_tiny(folder):
    """The test's copy of Listing 1: `template tiny` on both hosts, a `nat` switch so the
    dhcp client gets an address (nat_pool makes it the article's 10.0.0.0/24, whose
    10.0.0.1 is then the server's gateway), and a root password (the article's file has
    none) to log in on the consoles with."""
    text = re.sub(r"template \S+", "template tiny", LISTING_1.read_text())
    text = text.replace("switch LDAPlan { }", "switch LDAPlan { nat }")
    text = re.sub(r"^(host \S+ \{)", rf"\1\n    root_passwd {ROOT_PASSWORD}", text, flags=re.MULTILINE)
    path = folder / "ldaptest.mln"
    path.write_text(text)
    return path


class Lab:
    def __init__(self, folder):
        self.folder, self.projects = folder, folder / "projects"
        kernel = sorted(Path("/boot").glob("vmlinuz-*"))[-1]
        self.conf = folder / "mln.conf"
        self.conf.write_text(
            f"projects {self.projects}\nlibvirt_uri {URI}\nkernel {kernel}\n"
            f"initrd {TEMPLATES / 'tiny-initrd.img'}\nnat_pool 10.0.0.0/24\n"
        )
        self.file = listing_1_with_tiny(folder)
        self.env = {
            **os.environ,
            "MLN_CONF": str(self.conf),
            "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        }

    def log(self, host):
        path = self.projects / "ldaptest" / f"{host}.console.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for(self, pattern, hosts=HOSTS, timeout=BOOT_TIMEOUT):
        """Each host's first match of `pattern` (formatted with its name) in its serial log."""
        deadline = time.monotonic() + timeout
        while True:
            found = {h: re.search(pattern.format(host=h), self.log(h)) for h in hosts}
            if all(found.values()):
                return found
            if time.monotonic() > deadline:
                pytest.fail(f"no {pattern!r} in time:\n" + "\n".join(f"--- {h}\n{self.log(h)[-2000:]}" for h in hosts))
            time.sleep(1)


def leftovers():
    """What libvirt, its configuration and the disk still hold of the project."""
    listed = {
        "domains": virsh("list", "--all", "--name"),
        "networks": virsh("net-list", "--all", "--name"),
        "pools": virsh("pool-list", "--all", "--name"),
    }
    found = {kind: [n for n in text.split() if "ldaptest" in n] for kind, text in listed.items()}
    found["config"] = [str(p) for p in Path("/etc/libvirt").rglob("*ldaptest*")]
    return {kind: names for kind, names in found.items() if names}


def clean_up(lab):
    """Whatever a failed test left: through the product first, then by hand."""
    try:
        main(["remove", "-p", "ldaptest"])
    except Exception as exc:  # noqa: BLE001 -- the by-hand part below must run all the same
        print(f"mln remove: {exc!r}")
    for domain in leftovers().get("domains", []):
        virsh("destroy", domain)
        virsh("undefine", domain)
    for network in leftovers().get("networks", []):
        virsh("net-destroy", network)
        virsh("net-undefine", network)
    for pool in leftovers().get("pools", []):
        virsh("pool-destroy", pool)
        virsh("pool-undefine", pool)
    shutil.rmtree(lab.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def lab(django_db_setup, django_db_blocker):
    try:
        Hypervisor(URI).close()
    except HypervisorError as exc:
        pytest.skip(f"{URI} is not reachable (make libvirtd): {exc}")
    subprocess.run(
        [str(ROOT / "templates_registry" / "tiny" / "build.sh"), str(TEMPLATES)], check=True, capture_output=True
    )
    # libvirt's qemu user must reach the guests' files: not pytest's 0700 tmp.
    folder = Path(tempfile.mkdtemp(prefix="qemu-e2e-", dir=ROOT / "var"))
    folder.chmod(0o755)
    saved = os.environ.get("MLN_CONF")
    with django_db_blocker.unblock():
        lab = Lab(folder)
        os.environ["MLN_CONF"] = str(lab.conf)
        try:
            Template.register(TEMPLATES / "tiny.ext4", name="tiny", boot="pv")
            yield lab
        finally:
            clean_up(lab)
            Project.objects.filter(name="ldaptest").delete()
            Template.objects.filter(name="tiny").delete()
            if saved is None:
                os.environ.pop("MLN_CONF", None)
            else:
                os.environ["MLN_CONF"] = saved


def kill_mln_build_after(lab, line):
    """Runs `mln build` as a real process and SIGKILLs it once it has printed `line`."""
    process = subprocess.Popen(
        [str(MLN), "build", "-f", str(lab.file)],
        env=lab.env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    printed = []
    try:
        for output in process.stdout:
            printed.append(output)
            if line in output:
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL, "".join(printed)
    return "".join(printed)


def test_a_real_mln_build_killed_half_way_is_finished_by_the_next_one(lab):
    printed = kill_mln_build_after(lab, "switch LDAPlan: made")
    assert "[2/8] switch LDAPlan: made" in printed
    killed = Build.objects.filter(project__name="ldaptest").latest("created_at")
    assert killed.status == BuildStatus.RUNNING  # it never got to say how it ended
    with Hypervisor(URI) as hv:
        assert hv.project_objects("ldaptest").networks == ["ldaptest.LDAPlan"]  # half made
    assert main(["build", "-f", str(lab.file)]) == 0
    with Hypervisor(URI) as hv:
        objects = hv.project_objects("ldaptest")
    assert objects.domains == ["ldaptest.ldapclient", "ldaptest.ldapserver"]
    assert objects.networks == ["ldaptest.LDAPlan"]
    assert objects.pools == ["mln.ldaptest"]
    assert [v for v in objects.volumes if v.endswith(".qcow2")] == ["ldapclient.qcow2", "ldapserver.qcow2"]
    assert sorted(p.name for p in (lab.projects / "ldaptest").iterdir()) == [
        ".mln-project",
        "ldapclient.qcow2",
        "ldapclient.seed.img",
        "ldapserver.qcow2",
        "ldapserver.seed.img",
    ]
    assert [n for n in virsh("net-list", "--all", "--name").split() if "ldaptest" in n] == ["ldaptest.LDAPlan"]


@pytest.fixture(scope="module")
def running(lab):
    """The project built (a no-op when the test above built it), started, both guests up."""
    assert main(["build", "-f", str(lab.file)]) == 0
    assert main(["start", "-p", "ldaptest"]) == 0
    lab.wait_for(r"GUEST-UP {host}")
    return lab


def test_the_static_guest_has_its_address(running):
    assert "ADDR eth0 10.0.0.2/24" in running.log("ldapserver")
    assert "tiny-root" not in running.log("ldapserver")


def ping_from(host, peer):
    console = SerialConsole(URI, f"ldaptest.{host}")
    try:
        console.login("root", ROOT_PASSWORD)
        return console.run(f"ping -c 3 -W 2 {peer}")
    finally:
        console.close()


def test_the_guests_ping_each_other_over_their_switch(running):
    leased = running.wait_for(r"ADDR eth0 ([\d.]+)/\d+ dhcp", ["ldapclient"], timeout=60)["ldapclient"][1]
    assert leased != "10.0.0.2"
    for host, peer in (("ldapclient", "10.0.0.2"), ("ldapserver", leased)):
        said, status = ping_from(host, peer)
        assert status == 0 and re.search(r"3 packets transmitted, [123] packets received", said), said


def test_each_vnc_port_greets_with_rfb(running):
    with Hypervisor(URI) as hv:
        ports = [hv.domain_state(f"ldaptest.{host}").vnc_port for host in HOSTS]
    for port in ports:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as vnc:
            assert re.fullmatch(rb"RFB 003\.00\d\n", vnc.recv(12))


def test_export_remove_import_and_start_bring_the_guests_back(running):
    export = running.folder / "export"
    assert main(["stop", "-p", "ldaptest"]) == 0
    assert main(["export", "-p", "ldaptest", "-d", str(export), "-z"]) == 0
    assert main(["remove", "-p", "ldaptest"]) == 0
    assert not leftovers()
    assert main(["import", "-p", "ldaptest", "-d", str(export)]) == 0
    assert main(["start", "-p", "ldaptest"]) == 0
    running.wait_for(r"GUEST-UP {host}")
    assert "ADDR eth0 10.0.0.2/24" in running.log("ldapserver")


def test_remove_leaves_nothing_in_libvirt_or_on_disk(lab):
    assert main(["remove", "-p", "ldaptest"]) == 0
    assert not leftovers()
    assert not (lab.projects / "ldaptest").exists()
    with Hypervisor(URI) as hv:
        assert not hv.project_objects("ldaptest")
