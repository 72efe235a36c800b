"""Fixtures of the daemon's tests: libvirt's test driver, an mln.conf, a template.

`test:///default` keeps its state in the process while any connection to it
is open: the `libvirt_test` fixture holds one for the whole test, and its
close at the end wipes every guest, switch and pool the test made.
"""

import subprocess

import pytest

from daemon import conf as mlnconf
from daemon.agent.hypervisor import Hypervisor
from projects.lang.spec import HostSpec, InterfaceSpec, Position, ProjectSpec, SwitchSpec
from projects.models import Project
from templates_registry.models import Template


@pytest.fixture
def libvirt_test():
    with Hypervisor("test:///default") as hypervisor:
        yield hypervisor


@pytest.fixture
def mln_conf(tmp_path, monkeypatch):
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"kernel")
    (tmp_path / "initrd.img").write_bytes(b"initrd")
    path = tmp_path / "mln.conf"
    path.write_text(
        f"projects {tmp_path / 'projects'}\n"
        f"templates {tmp_path / 'templates'}\n"
        f"files {tmp_path / 'files'}\n"
        "libvirt_uri test:///default\n"
        "default_memory 128M\n"
        f"kernel {kernel}\n"
        f"initrd {tmp_path / 'initrd.img'}\n"
        "nat_pool 10.250.0.0/16\n"
        "vncdisplay_range 0-99\n"  # courses may pin displays 0-99 (5900-5999); none without it
    )
    monkeypatch.setenv("MLN_CONF", str(path))
    return mlnconf.load()


@pytest.fixture
def tiny(tmp_path, db):
    """A real 16 MiB raw image registered as `tiny`, booted pv."""
    image = tmp_path / "templates" / "tiny.img"
    image.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(image), "16M"], check=True)
    return Template.register(image, name="tiny", boot="pv")


def ldaptest(template="tiny", nat=False):
    """The article's Listing 1, as build_spec makes it, with a registered template."""
    here = lambda line: Position("ldaptest.mln", line, 1)  # noqa: E731
    client = HostSpec("ldapclient", template=template, memory=128 << 20, size=2 << 30, virtualization="xen",
                      lvm=True, nameserver="10.0.0.15", users={"kyrre": "l47/Y.NtB9p7w"}, position=here(6),
                      interfaces=[InterfaceSpec("eth0", switch="LDAPlan", address="dhcp")])
    server = HostSpec("ldapserver", template=template, memory=256 << 20, size=2 << 30, virtualization="xen",
                      lvm=True, nameserver="10.0.0.15", position=here(22),
                      interfaces=[InterfaceSpec("eth0", switch="LDAPlan", address="10.0.0.2",
                                                netmask="255.255.255.0", gateway="10.0.0.1")])
    return ProjectSpec("ldaptest", hosts={"ldapclient": client, "ldapserver": server},
                       switches={"LDAPlan": SwitchSpec("LDAPlan", nat=nat, position=here(38))})


def save_project(spec, source="global { project ldaptest }\n"):
    project, _ = Project.objects.update_or_create(
        name=spec.name, defaults={"source_name": f"{spec.name}.mln", "source": source, "spec": spec.to_dict()})
    return project
