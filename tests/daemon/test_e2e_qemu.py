"""End to end on qemu:///system: the article's Listing 1 with `template tiny`, real guests.

Built, started, both guests say GUEST-UP on their serial logs, each VNC port
accepts a connection; export -z, remove, import and start bring them back;
remove leaves nothing in libvirt or on disk.
"""

import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from daemon import conf as mlnconf
from daemon.hypervisor import Hypervisor, HypervisorError
from projects.cli import main
from templates_registry.models import Template

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "var" / "templates"
LISTING_1 = (Path("/work/shared/examples/mln/ldaptest.mln"))
BOOT_TIMEOUT = 180


@pytest.fixture
def qemu_conf(monkeypatch, db):
    try:
        Hypervisor("qemu:///system").close()
    except HypervisorError as exc:
        pytest.skip(f"qemu:///system is not reachable (make libvirtd): {exc}")
    subprocess.run([str(ROOT / "templates_registry" / "tiny" / "build.sh"), str(TEMPLATES)], check=True,
                   capture_output=True)
    # libvirt's qemu user must reach the guests' files: not pytest's 0700 tmp.
    folder = Path(tempfile.mkdtemp(prefix="qemu-e2e-", dir=ROOT / "var"))
    folder.chmod(0o755)
    kernel = sorted(Path("/boot").glob("vmlinuz-*"))[-1]
    path = folder / "mln.conf"
    path.write_text(f"projects {folder / 'projects'}\nlibvirt_uri qemu:///system\nkernel {kernel}\n"
                    f"initrd {TEMPLATES / 'tiny-initrd.img'}\nnat_pool 10.251.0.0/16\n")
    monkeypatch.setenv("MLN_CONF", str(path))
    yield folder
    main(["remove", "-p", "ldaptest"])
    shutil.rmtree(folder, ignore_errors=True)


def listing_1_with_tiny(folder):
    text = re.sub(r"template \S+", "template tiny", LISTING_1.read_text())
    text = text.replace("switch LDAPlan { }", "switch LDAPlan { nat }")  # so the dhcp client gets an address
    path = folder / "ldaptest.mln"
    path.write_text(text)
    return path


def wait_for_guests(folder):
    logs = {h: folder / "projects" / "ldaptest" / f"{h}.console.log" for h in ("ldapclient", "ldapserver")}
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        texts = {h: p.read_text(errors="replace") if p.exists() else "" for h, p in logs.items()}
        if all(f"GUEST-UP {h}" in texts[h] for h in logs):
            return texts
        time.sleep(1)
    pytest.fail("no GUEST-UP in time:\n" + "\n".join(f"--- {h}\n{t[-2000:]}" for h, t in texts.items()))


def vnc_answers(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        return s.recv(12).startswith(b"RFB ")


def test_listing_1_builds_boots_exports_imports_and_leaves_nothing(qemu_conf, capsys):
    Template.register(TEMPLATES / "tiny.ext4", name="tiny", boot="pv")
    assert main(["build", "-f", str(listing_1_with_tiny(qemu_conf))]) == 0
    assert main(["start", "-p", "ldaptest"]) == 0
    texts = wait_for_guests(qemu_conf)
    assert "10.0.0.2" in texts["ldapserver"]
    with Hypervisor("qemu:///system") as hv:
        for host in ("ldapclient", "ldapserver"):
            assert vnc_answers(hv.domain_state(f"ldaptest.{host}").vnc_port)
    assert main(["stop", "-p", "ldaptest"]) == 0
    assert main(["export", "-p", "ldaptest", "-d", str(qemu_conf / "export"), "-z"]) == 0
    assert main(["remove", "-p", "ldaptest"]) == 0
    assert main(["import", "-p", "ldaptest", "-d", str(qemu_conf / "export")]) == 0
    assert main(["start", "-p", "ldaptest"]) == 0
    wait_for_guests(qemu_conf)
    assert main(["remove", "-p", "ldaptest"]) == 0
    with Hypervisor("qemu:///system") as hv:
        assert not hv.project_objects("ldaptest")
    virsh = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"], capture_output=True,
                           text=True).stdout + subprocess.run(
        ["virsh", "-c", "qemu:///system", "net-list", "--all", "--name"], capture_output=True, text=True).stdout
    assert "ldaptest" not in virsh
    assert not (qemu_conf / "projects" / "ldaptest").exists()
