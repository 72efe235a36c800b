"""export -z, remove, import and start; imports that cannot be trusted make nothing.

More refusals of folders written by someone else: test_import_untrusted.py.
"""

import json
import subprocess

import pytest

from daemon.agent import archive
from projects import lang, project_import
from projects.choices import Action, BuildStatus
from templates_registry.models import file_sha256
from tests.factories import ldaptest, save_project

from .test_build import run

# The article's Listing 1 as the language reads it: an import rebuilds the spec from these blocks.
LDAPTEST = """global { project ldaptest }
host ldapclient {
    xen
    memory 128M
    template tiny
    network eth0 { address dhcp
        switch LDAPlan }
}
host ldapserver {
    xen
    memory 256M
    template tiny
    network eth0 { address 10.0.0.2
        netmask 255.255.255.0
        switch LDAPlan }
}
switch LDAPlan { }
"""


def materialize_disks(hypervisor, tiny):
    """The test driver keeps volumes in memory; qemu:///system would have written these overlays."""
    for volume in hypervisor.project_objects("ldaptest").volumes:
        path = hypervisor.volume_path("mln.ldaptest", volume)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", tiny.image, "-F", "raw", path], check=True)


@pytest.fixture
def exported(libvirt_test, mln_conf, tiny, tmp_path):
    project = save_project(lang.build_spec(lang.loads(LDAPTEST, filename="ldaptest.mln")), source=LDAPTEST)
    run(project, Action.BUILD, mln_conf)
    materialize_disks(libvirt_test, tiny)
    folder = tmp_path / "export"
    build = run(project, Action.EXPORT, mln_conf, directory=str(folder), compress=True)
    assert build.status == BuildStatus.SUCCEEDED, build.error
    return project, folder


def test_export_writes_a_self_contained_folder(exported):
    _project, folder = exported
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["SHA256SUMS", "export.json", "ldapclient.qcow2", "ldapserver.qcow2", "project.mln"]
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(folder / "ldapclient.qcow2")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert info["format"] == "qcow2" and "backing-filename" not in info
    assert json.loads((folder / "export.json").read_text())["disks"]["ldapserver"]["boot"] == "pv"


def test_export_remove_import_start_brings_the_guests_back(exported, libvirt_test, mln_conf):
    project, folder = exported
    run(project, Action.REMOVE, mln_conf)
    assert not libvirt_test.project_objects("ldaptest")
    imported, previous = project_import.project_from_folder("ldaptest", folder, mln_conf)
    assert previous["state"] == "removed"
    assert imported.spec["hosts"]["ldapserver"]["memory"] == 256 << 20
    build = run(imported, Action.IMPORT, mln_conf, directory=str(folder))
    assert build.status == BuildStatus.SUCCEEDED, build.error
    assert run(imported, Action.START, mln_conf).status == BuildStatus.SUCCEEDED
    assert libvirt_test.domain_state("ldaptest.ldapserver").state == "running"
    assert (mln_conf.projects / "ldaptest" / "ldapserver.base.qcow2").is_file()
    assert run(imported, Action.REMOVE, mln_conf).status == BuildStatus.SUCCEEDED
    assert not libvirt_test.project_objects("ldaptest")
    assert not (mln_conf.projects / "ldaptest").exists()


def test_a_changed_file_is_refused_before_anything_is_made(exported, libvirt_test, mln_conf):
    project, folder = exported
    run(project, Action.REMOVE, mln_conf)
    with open(folder / "ldapserver.qcow2", "ab") as disk:
        disk.write(b"tampered")
    with pytest.raises(archive.ArchiveError, match="ldapserver.qcow2 does not match its SHA-256 sum"):
        project_import.project_from_folder("ldaptest", folder, mln_conf)
    assert not libvirt_test.project_objects("ldaptest")


def test_names_that_leave_the_folder_are_refused(mln_conf, tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (tmp_path / "secret").write_text("x")
    digest = file_sha256(tmp_path / "secret")
    for name in ("../secret", str(tmp_path / "secret")):
        (folder / "SHA256SUMS").write_text(f"{digest}  {name}\n")
        with pytest.raises(archive.ArchiveError, match="leaves the folder"):
            archive.verify(folder, mln_conf)


def test_a_running_project_is_not_exported(libvirt_test, mln_conf, tiny, tmp_path):
    project = save_project(ldaptest())
    run(project, Action.BUILD, mln_conf)
    run(project, Action.START, mln_conf, host_name="ldapserver")
    build = run(project, Action.EXPORT, mln_conf, directory=str(tmp_path / "x"))
    assert build.status == BuildStatus.FAILED
    assert build.error.startswith("stop ldapserver first")
