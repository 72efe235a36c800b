"""`mln import` on qemu:///system, a real `dir` pool: a failed import leaves nothing, a good one backs
each host's overlay with its imported disk, opened as qcow2 (never probed). No guest is started."""

import json
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from daemon import conf as mlnconf
from daemon.agent.hypervisor import Hypervisor, HypervisorError
from projects import project_import
from projects.choices import Action, BuildStatus
from projects.models import Build, Host, Project

from .test_build import run
from .test_import_untrusted import WEB, forge

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(300)]

URI = "qemu:///system"
ROOT = Path(__file__).resolve().parents[2]


def virsh(*args):
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True).stdout


def leftovers(name):
    listed = {
        "domains": virsh("list", "--all", "--name"),
        "networks": virsh("net-list", "--all", "--name"),
        "pools": virsh("pool-list", "--all", "--name"),
    }
    found = {kind: [n for n in text.split() if name in n] for kind, text in listed.items()}
    return {kind: names for kind, names in found.items() if names}


@pytest.fixture
def system(db, monkeypatch):
    """A conf on qemu:///system with a folder libvirt's qemu user can reach, and a project name no
    other checkout uses; whatever a failed test left is removed at the end."""
    try:
        Hypervisor(URI).close()
    except HypervisorError as exc:
        pytest.skip(f"{URI} is not reachable (make libvirtd): {exc}")
    folder = Path(tempfile.mkdtemp(prefix="import-qemu-", dir=ROOT / "var"))
    folder.chmod(0o755)
    kernel = sorted(Path("/boot").glob("vmlinuz-*"))[-1]
    path = folder / "mln.conf"
    path.write_text(f"projects {folder / 'projects'}\nlibvirt_uri {URI}\nkernel {kernel}\n")
    monkeypatch.setenv("MLN_CONF", str(path))
    name = f"imp{secrets.token_hex(4)}"
    try:
        yield mlnconf.load(), folder, name
    finally:
        for domain in leftovers(name).get("domains", []):
            virsh("undefine", domain)
        for network in leftovers(name).get("networks", []):
            virsh("net-destroy", network)
            virsh("net-undefine", network)
        for pool in leftovers(name).get("pools", []):
            virsh("pool-destroy", pool)
            virsh("pool-undefine", pool)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_failed_import_leaves_nothing_on_a_real_pool(system):
    conf, folder, name = system
    source = forge(folder / "export", WEB.replace("project web", f"project {name}"))
    exported = {p.name: p.read_bytes() for p in source.iterdir()}
    project, previous = project_import.project_from_folder(name, source, conf)
    with open(source / "db.qcow2", "ab") as disk:  # changed after the command's check: the daemon sees it
        disk.write(b"changed")
    build = run(project, Action.IMPORT, conf, directory=str(source))
    assert build.status == BuildStatus.FAILED
    assert build.error.startswith("import disk db:") and "does not match its SHA-256 sum" in build.error
    project_import.undo_import(project, previous)
    assert not leftovers(name)
    assert not (conf.projects / name).exists()
    assert not (Project.objects.filter(name=name).exists() or Build.objects.exists() or Host.objects.exists())
    assert {p.name for p in source.iterdir()} == set(exported)  # the export folder is not ours to change
    assert (source / "web.qcow2").read_bytes() == exported["web.qcow2"]


def test_an_imported_disk_backs_its_overlay_as_qcow2_and_remove_takes_it_all(system):
    conf, folder, name = system
    source = forge(folder / "export", WEB.replace("project web", f"project {name}"))
    project, _ = project_import.project_from_folder(name, source, conf)
    build = run(project, Action.IMPORT, conf, directory=str(source))
    assert build.status == BuildStatus.SUCCEEDED, build.error
    overlay = conf.projects / name / "web.qcow2"
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "-f", "qcow2", "-U", "--output=json", str(overlay)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert info["backing-filename"] == str(conf.projects / name / "web.base.qcow2")
    assert info["backing-filename-format"] == "qcow2"
    assert leftovers(name)["pools"] == [f"mln.{name}"]
    assert run(project, Action.REMOVE, conf).status == BuildStatus.SUCCEEDED
    assert not leftovers(name)
    assert not (conf.projects / name).exists()
