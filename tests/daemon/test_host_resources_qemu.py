"""Folders of foreign files on a real `dir` pool (qemu:///system): MLN deletes only what it made.

libvirt lists every file of a `dir` pool's folder as a volume, whoever wrote it, so the
old "delete every volume of the project's pools" emptied any folder a course's `filepath`
led to. Here the files of someone else sit beside MLN's, in the storage root, in the
folders MLN made, and in a folder MLN did not make, through build, failed build and
remove. No guest is started: defining domains is enough, and the test is quick.

libvirt objects are named after a project name unique to each test (other checkouts
share qemu:///system), and removed at the end whatever happened.
"""

import subprocess
import uuid
from pathlib import Path

import pytest

from daemon import conf as mlnconf
from daemon.agent.hypervisor import Hypervisor, HypervisorError
from daemon.agent.storage import MARKER
from projects.choices import Action, BuildStatus
from projects.lang.spec import HostSpec, Position, ProjectSpec
from tests.factories import save_project

from .test_build import run

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(300)]

URI = "qemu:///system"


def virsh(*args):
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True).stdout


def names(kind, prefix):
    return [n for n in virsh(kind, "--all", "--name").split() if n.startswith(prefix)]


class Lab:
    def __init__(self, folder):
        self.project = f"hr{uuid.uuid4().hex[:8]}"
        self.root = folder / "storage"  # the administrator's storage root
        self.root.mkdir()
        self.projects = folder / "projects"
        (folder / "vmlinuz").write_bytes(b"kernel")  # never booted: no guest is started here
        path = folder / "mln.conf"
        path.write_text(
            f"projects {self.projects}\ntemplates {folder / 'templates'}\nfiles {folder / 'files'}\n"
            f"libvirt_uri {URI}\nkernel {folder / 'vmlinuz'}\nstorage_roots {self.root}\n"
        )
        self.conf = mlnconf.load(path)

    def spec(self, failing=False):
        """`web` has its disk under `filepath` (root/<project>), `db` in the projects folder; a failing
        `db` stops the build at its seed, after both disks were made."""
        here = lambda line: Position(f"{self.project}.mln", line, 1)  # noqa: E731
        web = HostSpec("web", template="tiny", memory=128 << 20, filepath=str(self.root), position=here(2))
        db = HostSpec("db", template="tiny", memory=128 << 20, position=here(6))
        if failing:
            db.plugins = {"sshkey": {"root": "/no/such/key.pub"}}
        return ProjectSpec(self.project, hosts={"web": web, "db": db})

    @property
    def disks(self):
        return self.root / self.project

    @property
    def folder(self):
        return self.projects / self.project

    def pools(self):
        return names("pool-list", f"mln.{self.project}")

    def clean_up(self):
        for domain in names("list", f"{self.project}."):
            virsh("destroy", domain)
            virsh("undefine", domain)
        for pool in self.pools():  # forgotten only: the folders are pytest's, it removes them
            virsh("pool-destroy", pool)
            virsh("pool-undefine", pool)


@pytest.fixture
def lab(tmp_path, tiny):
    try:
        Hypervisor(URI).close()
    except HypervisorError as exc:
        pytest.skip(f"{URI} is not reachable (make libvirtd): {exc}")
    lab = Lab(tmp_path)
    yield lab
    lab.clean_up()


def files(folder):
    return sorted(p.name for p in Path(folder).iterdir())


def foreign(folder, name="thesis.tex"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("someone else's work")
    return folder / name


def test_foreign_files_beside_mlns_survive_build_and_remove(lab):
    keep = foreign(lab.root, "keep.txt")
    project = save_project(lab.spec(), source="")
    build = run(project, Action.BUILD, lab.conf)
    assert build.status == BuildStatus.SUCCEEDED, build.error
    assert files(lab.disks) == [MARKER, "web.qcow2"]
    assert len(lab.pools()) == 2
    # Files dropped later into the folders MLN made: libvirt lists them as the pools' volumes.
    theirs = [foreign(lab.disks), foreign(lab.folder, "notes.txt")]
    for pool in lab.pools():
        virsh("pool-refresh", pool)
    listed = [virsh("vol-list", pool) for pool in lab.pools()]
    assert any("thesis.tex" in text for text in listed) and any("notes.txt" in text for text in listed)

    removal = run(project, Action.REMOVE, lab.conf)
    assert removal.status == BuildStatus.SUCCEEDED, removal.error
    assert all(path.read_text() == "someone else's work" for path in [keep, *theirs])
    assert files(lab.disks) == [MARKER, "thesis.tex"]  # MLN's disk went, the folder stays for the other file
    assert files(lab.folder) == [MARKER, "notes.txt"]
    assert lab.pools() == [] and names("list", f"{lab.project}.") == []


def test_a_failed_rebuild_leaves_foreign_files_in_mlns_folders(lab):
    project = save_project(lab.spec(), source="")
    assert run(project, Action.BUILD, lab.conf).status == BuildStatus.SUCCEEDED
    theirs = foreign(lab.disks)
    save_project(lab.spec(failing=True), source="")
    rebuild = run(project, Action.REBUILD, lab.conf)  # remove, then a build that fails at db's seed and rolls back
    assert rebuild.status == BuildStatus.FAILED
    assert "seed db" in rebuild.error
    assert theirs.read_text() == "someone else's work"
    assert files(lab.disks) == [MARKER, "thesis.tex"]
    assert lab.pools() == [] and names("list", f"{lab.project}.") == []


def test_a_folder_mln_did_not_make_is_refused_and_untouched_by_a_failing_build(lab):
    # With `filepath ROOT` and a project named like an existing folder, the old code made that
    # folder the project's pool, and the rollback of a failed build deleted every file in it.
    theirs = foreign(lab.disks)
    build = run(save_project(lab.spec(failing=True), source=""), Action.BUILD, lab.conf)
    assert build.status == BuildStatus.FAILED
    assert build.error == (
        f"{lab.project}.mln:2:1: host web: filepath {lab.root}: {lab.disks} exists and was not "
        f"made by MLN for project {lab.project} (it has no {MARKER} naming it)"
    )
    assert files(lab.disks) == ["thesis.tex"] and theirs.read_text() == "someone else's work"
    assert lab.pools() == [] and not lab.folder.exists()


def test_a_failed_build_removes_what_it_made_and_nothing_else(lab):
    keep = foreign(lab.root, "keep.txt")
    build = run(save_project(lab.spec(failing=True), source=""), Action.BUILD, lab.conf)
    assert build.status == BuildStatus.FAILED
    assert keep.read_text() == "someone else's work" and files(lab.root) == ["keep.txt"]
    assert not lab.folder.exists()
    assert lab.pools() == [] and names("list", f"{lab.project}.") == []


def test_a_filepath_outside_storage_roots_is_refused_before_anything_is_made(lab, tmp_path):
    spec = lab.spec()
    spec.hosts["web"].filepath = str(tmp_path / "elsewhere")
    build = run(save_project(spec, source=""), Action.BUILD, lab.conf)
    assert build.status == BuildStatus.FAILED
    assert build.error == (
        f"{lab.project}.mln:2:1: host web: filepath {tmp_path / 'elsewhere'} is not under a folder "
        f"of storage_roots of {lab.conf.path}"
    )
    assert not (tmp_path / "elsewhere").exists() and not lab.folder.exists() and lab.pools() == []
