"""The tiny template booted for real on qemu:///system, configured by its seed.

Two guests on one isolated switch, each with a static address from its
NoCloud seed and a runcmd that pings the other: the serial logs must show
GUEST-UP, the address applied, and the ping answered. Libvirt is driven
directly here (tests only); the XML comes from daemon.agent.libvirt_xml.
"""

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from daemon.agent.guest_config import write_seed
from daemon.agent.libvirt_xml import GuestDefinition, NetworkDefinition, Nic, domain_xml, network_xml
from projects.lang.spec import HostSpec, InterfaceSpec

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "var" / "templates"
BOOT_TIMEOUT = 120  # seconds; two guests under TCG on two shared cores


@pytest.fixture(scope="module")
def tiny():
    """The tiny template as `make tiny` builds it (a no-op when up to date)."""
    subprocess.run(
        [str(ROOT / "templates_registry" / "tiny" / "build.sh"), str(TEMPLATES)], check=True, capture_output=True
    )
    kernel = sorted(Path("/boot").glob("vmlinuz-*"))[-1]
    return (TEMPLATES / "tiny.ext4").resolve(), kernel, TEMPLATES / "tiny-initrd.img"


@pytest.fixture
def folder():
    """Guests' files where libvirt's qemu user can reach them (pytest's tmp is 0700)."""
    (ROOT / "var").mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="qemu-test-", dir=ROOT / "var"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def qemu(folder):
    libvirt = pytest.importorskip("libvirt")
    try:
        connection = libvirt.open("qemu:///system")
    except libvirt.libvirtError as exc:
        pytest.skip(f"qemu:///system is not reachable (make libvirtd): {exc}")
    made = {"domains": [], "networks": []}
    yield connection, made
    for domain in made["domains"]:
        if domain.isActive():
            domain.destroy()
        domain.undefine()
    for network in made["networks"]:
        if network.isActive():
            network.destroy()
        network.undefine()
    connection.close()


def host(name, address, peer):
    return HostSpec(
        name=name,
        root_passwd="tiny-root",
        users={"student": "l47/Y.NtB9p7w"},
        nameserver="10.0.0.1",
        interfaces=[InterfaceSpec("eth0", switch="lan", address=address, netmask="255.255.255.0", gateway="10.0.0.1")],
    ), [
        f"for i in $(seq 60); do ping -c 1 -W 1 {peer} > /dev/null 2>&1 && echo PING-OK {peer} && exit; done;"
        f" echo PING-FAIL {peer}"
    ]


def start_guest(connection, made, folder, tiny, spec, runcmd, mac, network):
    template, kernel, initrd = tiny
    overlay = folder / f"{spec.name}.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(template), "-F", "raw", str(overlay)], check=True
    )
    seed = write_seed("tinytest", spec, {"eth0": mac}, folder / f"{spec.name}.seed.img", runcmd=runcmd)
    guest = GuestDefinition(
        project="tinytest",
        host=spec.name,
        name=f"mlntest-{folder.name[-8:]}-{spec.name}",
        domain_type="qemu",
        memory=128 << 20,
        vcpus=1,
        disk=str(overlay),
        seed=str(seed),
        console_log=str(folder / f"{spec.name}.log"),
        vnc_listen="127.0.0.1",
        vnc_password="tinytest",
        kernel=str(kernel),
        initrd=str(initrd),
        nics=[Nic(mac, network)],
    )
    domain = connection.defineXML(domain_xml(guest))
    made["domains"].append(domain)
    domain.create()
    return Path(guest.console_log)


def wait_for(logs, patterns, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        texts = {name: log.read_text(errors="replace") if log.exists() else "" for name, log in logs.items()}
        if all(re.search(p, texts[name]) for name, p in patterns):
            return texts
        time.sleep(1)
    pytest.fail(
        "guests did not get there in time:\n" + "\n".join(f"--- {name}\n{text[-3000:]}" for name, text in texts.items())
    )


def test_two_tiny_guests_are_configured_by_their_seeds_and_ping_each_other(qemu, tiny, folder):
    connection, made = qemu
    tag = folder.name[-8:]
    switch = NetworkDefinition(project="tinytest", switch="lan", name=f"mlntest-{tag}", bridge=f"mlnt{tag[-8:]}")
    network = connection.networkDefineXML(network_xml(switch))
    made["networks"].append(network)
    network.create()

    started = time.monotonic()
    logs = {}
    for name, address, peer, mac in (
        ("alpha", "10.0.0.2", "10.0.0.3", "52:54:00:7e:00:02"),
        ("beta", "10.0.0.3", "10.0.0.2", "52:54:00:7e:00:03"),
    ):
        spec, runcmd = host(name, address, peer)
        logs[name] = start_guest(connection, made, folder, tiny, spec, runcmd, mac, switch.name)

    up = wait_for(logs, [("alpha", r"GUEST-UP alpha"), ("beta", r"GUEST-UP beta")], BOOT_TIMEOUT)
    print(f"both guests up {time.monotonic() - started:.1f} s after the first start")
    assert "ADDR eth0 10.0.0.2/24" in up["alpha"] and "ADDR eth0 10.0.0.3/24" in up["beta"]
    pinged = wait_for(logs, [("alpha", r"PING-(OK|FAIL) 10.0.0.3"), ("beta", r"PING-(OK|FAIL) 10.0.0.2")], 90)
    print(f"both pings done {time.monotonic() - started:.1f} s after the first start")
    assert "PING-OK 10.0.0.3" in pinged["alpha"] and "PING-OK 10.0.0.2" in pinged["beta"]
    assert "tiny-root" not in pinged["alpha"]
