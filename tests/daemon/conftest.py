"""Fixtures of the daemon's tests: libvirt's test driver, an mln.conf, a template.

`test:///default` keeps its state in the process while any connection to it
is open: the `libvirt_test` fixture holds one for the whole test, and its
close at the end wipes every guest, switch and pool the test made.
"""

import gc
import subprocess

import pytest

from daemon import conf as mlnconf
from daemon.agent.hypervisor import Hypervisor
from templates_registry.models import Template


@pytest.fixture
def libvirt_test():
    # The test driver's state lives while any object of a connection to it does; a failed job's
    # traceback (a domain in one of its frames) may hold one until the collector runs. Start clean.
    gc.collect()
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
