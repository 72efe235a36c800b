"""`mln import` of folders written by someone else: names, disks and specs are checked, never trusted,
and an import that fails leaves nothing behind (files, pools, volumes, database rows)."""

import json
import subprocess
from pathlib import Path

import pytest

from daemon.agent import archive
from projects import lang, project_import
from projects.choices import Action, BuildStatus, ProjectState
from projects.lang.spec import ProjectSpec
from projects.models import Build, Host, Project, Switch
from templates_registry.models import file_sha256
from tests.factories import make_project

from .test_build import run
from .test_cli_table1 import mln

WEB = """global { project web }
host web {
    template tiny
    memory 128M
    network eth0 { switch lan
        address dhcp }
}
host db {
    template tiny
    network eth0 { switch lan
        address 10.0.0.2
        netmask 255.255.255.0 }
}
switch lan { }
"""


def qcow2(path, *options, size="16M"):
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *options, str(path), size], check=True)
    return path


def forge(folder, text=WEB, edit=None):
    """An export folder as anyone can write one: a manifest of their choosing, disks, and sums that match.

    `edit(manifest, folder)` changes the manifest (and may replace disks) before the sums are written."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = lang.build_spec(lang.loads(text, filename="web.mln"))
    manifest = {
        "project": spec.name,
        "spec": spec.to_dict(),
        "disks": {name: {"file": f"{name}.qcow2", "boot": "pv"} for name in spec.hosts},
    }
    for name in spec.hosts:
        qcow2(folder / f"{name}.qcow2")
    (folder / "project.mln").write_text(text)
    if edit:
        edit(manifest, folder)
    (folder / "export.json").write_text(json.dumps(manifest))
    names = ["project.mln", "export.json", *(d["file"] for d in manifest["disks"].values())]
    (folder / "SHA256SUMS").write_text("".join(f"{file_sha256(folder / n)}  {n}\n" for n in names))
    return folder


def assert_nothing_left(libvirt_test, mln_conf, name="web"):
    assert not Project.objects.filter(name=name).exists()
    assert not (Build.objects.exists() or Host.objects.exists() or Switch.objects.exists())
    assert not libvirt_test.project_objects(name)
    assert not (mln_conf.projects / name).exists()


def test_a_host_name_that_leaves_the_folder_is_refused_and_nothing_is_written(
    libvirt_test, mln_conf, tiny, tmp_path, capsys
):
    def rename(manifest, folder):  # projects/web/../../x.base.qcow2 is tmp_path/x.base.qcow2
        host = manifest["spec"]["hosts"].pop("web")
        manifest["spec"]["hosts"]["../../x"] = {**host, "name": "../../x"}
        manifest["disks"] = {"../../x": {"file": "web.qcow2", "boot": "pv"}, "db": manifest["disks"]["db"]}

    folder = forge(tmp_path / "export", edit=rename)
    status, _, err = mln(capsys, "import", "-p", "web", "-d", str(folder))
    assert status == 1
    assert "host name '../../x' may hold letters, digits and hyphens only" in err
    assert "Traceback" not in err
    assert not list(tmp_path.glob("x*"))
    assert_nothing_left(libvirt_test, mln_conf)


def test_the_daemon_checks_the_host_names_of_the_projects_own_spec(libvirt_test, mln_conf, tiny, tmp_path):
    folder = forge(tmp_path / "export")
    spec = lang.build_spec(lang.loads(WEB, filename="web.mln"))
    spec.hosts["../../x"] = spec.hosts.pop("web")  # a row written by something that skipped the checks
    spec.hosts["../../x"].name = "../../x"
    project = Project.objects.create(name="web", source=WEB, spec=spec.to_dict())
    build = run(project, Action.IMPORT, mln_conf, directory=str(folder))
    assert build.status == BuildStatus.FAILED
    assert build.error == "project web: host name '../../x' may hold letters, digits and hyphens only"
    assert not list(tmp_path.glob("x*")) and not (mln_conf.projects / "web").exists()
    assert not libvirt_test.project_objects("web")


def test_a_file_name_in_the_sums_that_is_no_export_file_is_refused(mln_conf, tmp_path, db):
    def extra(manifest, folder):
        (folder / "..evil").write_text("x")
        manifest["disks"]["db"]["file"] = "..evil"

    folder = forge(tmp_path / "export", edit=extra)
    with pytest.raises(archive.ArchiveError, match="'..evil' is not a file an export writes"):
        project_import.project_from_folder("web", folder, mln_conf)


def test_a_disk_with_a_backing_file_is_refused_before_anything_is_made(libvirt_test, mln_conf, tiny, tmp_path, capsys):
    def backed(manifest, folder):
        (folder / "web.qcow2").unlink()
        qcow2(folder / "web.qcow2", "-b", "/etc/hostname", "-F", "raw")

    folder = forge(tmp_path / "export", edit=backed)
    status, _, err = mln(capsys, "import", "-p", "web", "-d", str(folder))
    assert status == 1
    assert "a qcow2 with a backing file (/etc/hostname) is refused" in err
    assert_nothing_left(libvirt_test, mln_conf)


def test_a_disk_with_an_external_data_file_is_refused(mln_conf, tmp_path, db):
    outside = tmp_path / "host-file"

    def data_file(manifest, folder):
        (folder / "db.qcow2").unlink()
        qcow2(folder / "db.qcow2", "-o", f"data_file={outside},data_file_raw=on", size="1M")

    folder = forge(tmp_path / "export", edit=data_file)
    with pytest.raises(archive.ArchiveError, match=f"external data file \\({outside}\\) is refused"):
        project_import.project_from_folder("web", folder, mln_conf)
    assert not Project.objects.exists()


def test_a_disk_is_opened_as_qcow2_never_probed(mln_conf, tmp_path, db):
    def raw(manifest, folder):
        subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(folder / "web.qcow2"), "16M"], check=True)

    folder = forge(tmp_path / "export", edit=raw)
    with pytest.raises(archive.ArchiveError, match="cannot read it as qcow2"):
        project_import.project_from_folder("web", folder, mln_conf)


def test_a_disk_above_max_disk_is_refused(mln_conf, tmp_path, db):
    def big(manifest, folder):
        (folder / "db.qcow2").unlink()
        qcow2(folder / "db.qcow2", size="300G")

    folder = forge(tmp_path / "export", edit=big)
    with pytest.raises(archive.ArchiveError, match=r"db.qcow2: a disk of 322122547200 bytes is above max_disk"):
        project_import.project_from_folder("web", folder, mln_conf)


def test_the_spec_is_rebuilt_by_the_language_from_the_resolved_blocks(mln_conf, tmp_path, db):
    def typed_only(manifest, folder):  # a typed field the blocks do not say is not taken
        manifest["spec"]["hosts"]["web"]["filepath"] = "/etc"
        manifest["spec"]["hosts"]["web"]["memory"] = 1 << 50
        manifest["spec"]["hosts"]["web"]["service_host"] = "elsewhere"

    project, previous = project_import.project_from_folder(
        "copy", forge(tmp_path / "export", edit=typed_only), mln_conf
    )
    assert previous is None
    host = project.spec["hosts"]["web"]
    assert (host["filepath"], host["memory"], host["service_host"]) == (None, 128 << 20, None)
    assert project.spec["name"] == "copy" and project.tree["global"]["project"] == "copy"


def test_the_languages_checks_refuse_a_bad_block(mln_conf, tmp_path, db):
    def bad_size(manifest, folder):
        manifest["spec"]["hosts"]["web"]["settings"]["memory"] = "lots"

    with pytest.raises(archive.ArchiveError, match="export.json: memory 'lots' of host web is not a size"):
        project_import.project_from_folder("web", forge(tmp_path / "export", edit=bad_size), mln_conf)
    assert not Project.objects.exists()


def test_a_host_resource_mln_conf_does_not_allow_is_refused(mln_conf, tmp_path, db):
    def filepath(manifest, folder):
        manifest["spec"]["hosts"]["db"]["settings"]["filepath"] = "/etc"

    with pytest.raises(archive.ArchiveError, match="host db: .*filepath"):
        project_import.project_from_folder("web", forge(tmp_path / "export", edit=filepath), mln_conf)
    assert not Project.objects.exists()


def test_a_malformed_manifest_is_an_error_not_a_traceback(mln_conf, tmp_path, capsys, db):
    def malformed(manifest, folder):
        manifest["spec"]["hosts"]["web"]["settings"]["network"] = ["eth0"]
        manifest["spec"]["switches"] = []

    status, _, err = mln(capsys, "import", "-p", "web", "-d", str(forge(tmp_path / "export", edit=malformed)))
    assert status == 1 and err.startswith("mln: error: ") and "Traceback" not in err


def test_a_manifest_above_max_manifest_is_refused(mln_conf, tmp_path, db):
    from dataclasses import replace

    folder = forge(tmp_path / "export")
    with pytest.raises(archive.ArchiveError, match="export.json: larger than 100 bytes \\(max_manifest"):
        project_import.project_from_folder("web", folder, replace(mln_conf, max_manifest=100))


def test_a_built_project_is_not_overwritten_by_an_import(mln_conf, tmp_path, db):
    running = make_project(ProjectSpec("web"), state=ProjectState.RUNNING)
    with pytest.raises(archive.ArchiveError, match="project web is running: remove it first"):
        project_import.project_from_folder("web", forge(tmp_path / "export"), mln_conf)
    assert Project.objects.get(name="web").spec == running.spec == ProjectSpec("web").to_dict()


def test_an_import_the_daemon_refuses_leaves_no_rows(libvirt_test, mln_conf, tiny, tmp_path, capsys, monkeypatch):
    conf = tmp_path / "no-kernel.conf"  # the daemon's plan refuses a pv disk without a kernel
    conf.write_text(
        "\n".join(
            line for line in Path(mln_conf.path).read_text().splitlines() if not line.startswith(("kernel", "initrd"))
        )
        + "\n"
    )
    monkeypatch.setenv("MLN_CONF", str(conf))
    status, _, err = mln(capsys, "import", "-p", "web", "-d", str(forge(tmp_path / "export")))
    assert status == 1 and "sets no kernel" in err
    assert_nothing_left(libvirt_test, mln_conf)


def test_a_failed_import_undoes_every_step(libvirt_test, mln_conf, tiny, tmp_path):
    folder = forge(tmp_path / "export")
    project, previous = project_import.project_from_folder("web", folder, mln_conf)
    with open(folder / "db.qcow2", "ab") as disk:  # changed after the command's check: the daemon sees it
        disk.write(b"changed")
    build = run(project, Action.IMPORT, mln_conf, directory=str(folder))
    assert build.status == BuildStatus.FAILED
    assert build.error == f"import disk db: {folder / 'db.qcow2'}: does not match its SHA-256 sum"
    # What it made, what it undid (each said, newest first), then why it failed.
    assert [e.step for e in build.events.all()] == [
        "storage",
        "import disk",
        "undid: import disk",
        "undid: storage",
        "failed",
    ]
    project_import.undo_import(project, previous)
    assert_nothing_left(libvirt_test, mln_conf)


def test_a_failed_import_into_a_removed_project_gives_it_back(libvirt_test, mln_conf, tiny, tmp_path):
    old = make_project(ProjectSpec("web"), source="old", state=ProjectState.REMOVED)
    folder = forge(tmp_path / "export")
    project, previous = project_import.project_from_folder("web", folder, mln_conf)
    (folder / "web.qcow2").write_bytes(b"gone")
    assert run(project, Action.IMPORT, mln_conf, directory=str(folder)).status == BuildStatus.FAILED
    project_import.undo_import(project, previous)
    project = Project.objects.get(pk=old.pk)
    assert (project.source, project.spec, project.state) == ("old", ProjectSpec("web").to_dict(), "removed")
    assert not (project.hosts.exists() or project.switches.exists())
    assert not libvirt_test.project_objects("web")


def test_a_forged_folder_within_every_check_imports(libvirt_test, mln_conf, tiny, tmp_path, capsys):
    status, out, err = mln(capsys, "import", "-p", "web", "-d", str(forge(tmp_path / "export")))
    assert status == 0, err
    assert "import disk web: made" in out
    assert (mln_conf.projects / "web" / "web.base.qcow2").is_file()
    assert not list((mln_conf.projects / "web").glob(".*.partial"))
    assert mln(capsys, "remove", "-p", "web")[0] == 0
    assert not (mln_conf.projects / "web").exists()
