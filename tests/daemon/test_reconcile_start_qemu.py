"""A pinned `vncdisplay` whose port something on this machine listens on is refused before any host of
the project starts (qemu:///system: only a local qemu runs displays on this machine's ports).

No guest is started: the start is refused before it. libvirt objects are named after a project name
unique to this test, and removed at the end whatever happened.
"""

import subprocess
import uuid

import pytest

from daemon import conf as mlnconf
from daemon.agent.hypervisor import Hypervisor, HypervisorError
from projects.choices import Action, BuildStatus
from projects.lang.spec import HostSpec, ProjectSpec
from tests.factories import save_project

from .test_build import run
from .test_reconcile_start import taken_display  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(300)]

URI = "qemu:///system"


def virsh(*args):
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True).stdout


@pytest.fixture
def qemu_lab(tmp_path, tiny):
    try:
        Hypervisor(URI).close()
    except HypervisorError as exc:
        pytest.skip(f"{URI} is not reachable (make libvirtd): {exc}")
    name = f"vnc{uuid.uuid4().hex[:8]}"
    (tmp_path / "vmlinuz").write_bytes(b"kernel")  # never booted
    path = tmp_path / "mln.conf"
    path.write_text(
        f"projects {tmp_path / 'projects'}\ntemplates {tmp_path / 'templates'}\nfiles {tmp_path / 'files'}\n"
        f"libvirt_uri {URI}\nkernel {tmp_path / 'vmlinuz'}\nvncdisplay_range 0-99\n"
    )
    yield name, mlnconf.load(path)
    for domain in [n for n in virsh("list", "--all", "--name").split() if n.startswith(f"{name}.")]:
        virsh("destroy", domain)
        virsh("undefine", domain)
    for pool in [n for n in virsh("pool-list", "--all", "--name").split() if n.startswith(f"mln.{name}")]:
        virsh("pool-destroy", pool)
        virsh("pool-undefine", pool)


def test_a_pinned_display_whose_port_is_taken_is_refused_before_any_start(qemu_lab, taken_display):  # noqa: F811
    name, conf = qemu_lab
    hosts = {
        "web": HostSpec("web", template="tiny", memory=128 << 20),
        "db": HostSpec("db", template="tiny", memory=128 << 20, vncdisplay=taken_display),
    }
    project = save_project(ProjectSpec(name, hosts=hosts), source="")
    assert run(project, Action.BUILD, conf).status == BuildStatus.SUCCEEDED
    build = run(project, Action.START, conf)
    assert build.status == BuildStatus.FAILED
    port = 5900 + taken_display
    assert build.error == (
        f"start db: vncdisplay {taken_display}: port {port} on 127.0.0.1 is already in use on this "
        "service host; pin another display or stop what listens there"
    )
    assert virsh("domstate", f"{name}.web").strip() == "shut off"  # web, first, was never started
    assert not build.events.filter(step="start").exists()
