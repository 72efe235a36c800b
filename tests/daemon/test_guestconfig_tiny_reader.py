"""The tiny template's reader of the seed (seed.awk, run by busybox awk as in
the guest) finds what guestconfig wrote: the guest side, without a guest."""

import subprocess
from pathlib import Path

import pycdlib

from daemon.agent.guest_config import write_seed
from projects.lang.spec import HostSpec, InterfaceSpec

SEED_AWK = Path(__file__).resolve().parents[2] / "templates_registry" / "tiny" / "seed.awk"


def read_as_the_tiny_guest(image, tmp_path):
    seed, out = tmp_path / "seed", tmp_path / "out"
    seed.mkdir()
    (out / "keys").mkdir(parents=True)
    (out / "runcmd").mkdir()
    iso = pycdlib.PyCdlib()
    iso.open(str(image))
    for name in ("meta-data", "user-data", "network-config"):
        with open(seed / name, "wb") as f:
            iso.get_file_from_iso_fp(f, joliet_path=f"/{name}")
    iso.close()
    subprocess.run(
        [
            "busybox",
            "awk",
            "-v",
            f"OUT={out}",
            "-f",
            str(SEED_AWK),
            *(str(seed / n) for n in ("meta-data", "user-data", "network-config")),
        ],
        check=True,
    )
    return {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*")) if p.is_file()}


def test_tiny_guest_reads_every_setting_of_the_seed(tmp_path):
    key = tmp_path / "id.pub"
    key.write_text("ssh-ed25519 AAAAC3Nza key@host\n")
    host = HostSpec(
        name="web14",
        nameserver="10.0.0.15 10.0.0.16",
        root_passwd="l47/Y.NtB9p7w",
        users={"kyrre": "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/"},
        interfaces=[
            InterfaceSpec("eth0", address="10.0.0.2", netmask="255.255.255.0", gateway="10.0.0.1"),
            InterfaceSpec("eth1", address="dhcp"),
            InterfaceSpec("eth2"),
        ],
        plugins={"sshkey": {"nagios": str(key)}, "apache": {"max_connections": "30"}},
    )
    image = write_seed(
        "webserv",
        host,
        {"eth0": "52:54:00:AA:00:01", "eth1": "52:54:00:aa:00:02"},
        tmp_path / "seed.img",
        runcmd=['echo "one" | tr o 0\necho two', "echo |pipe|"],
    )
    files = read_as_the_tiny_guest(image, tmp_path)
    assert files["hostname"] == "web14\n"
    assert files["instance-id"].startswith("webserv-web14-")
    assert files["users"] == "root|l47/Y.NtB9p7w\nkyrre|$1$saltsalt$qjXMvbEw8oaL.CzflDugX/\nnagios|\n"
    assert files["keys/nagios"] == "ssh-ed25519 AAAAC3Nza key@host\n"
    assert files["net"] == (
        "eth0|52:54:00:aa:00:01|static|10.0.0.2/24|10.0.0.1\neth1|52:54:00:aa:00:02|dhcp||\neth2||none||\n"
    )
    assert files["nameservers"] == "10.0.0.15\n10.0.0.16\n"
    permissions, content, path = files["files"].rstrip("\n").split("|")
    assert (permissions, path) == ("0644", "/etc/apache2/conf-enabled/mln-apache.conf")
    assert __import__("base64").b64decode(content).decode().endswith("MaxRequestWorkers 30\n")
    assert files["runcmd/001"] == 'echo "one" | tr o 0\necho two\n'
    assert files["runcmd/002"] == "echo |pipe|\n"
