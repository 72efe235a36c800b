"""Where a host's disk lives: `filepath DIR` puts it in DIR/<project>, through a pool of its own."""

from pathlib import Path

import pytest

from daemon import conf as mlnconf
from daemon.agent import libvirt_xml
from projects.choices import Action, BuildStatus, EventLevel
from tests.factories import ldaptest, save_project

from .test_build import run
from .test_export import materialize_disks


def pool_path(hypervisor, name):
    return libvirt_xml.pool_path_of(hypervisor.conn.storagePoolLookupByName(name).XMLDesc(0))


@pytest.fixture
def mln_conf(mln_conf, tmp_path):
    """The test's mln.conf, with the test's folder as a storage root: every filepath here is under it."""
    path = Path(mln_conf.path)
    path.write_text(path.read_text() + f"storage_roots {tmp_path}\n")
    return mlnconf.load()


@pytest.fixture
def disks(tmp_path):
    return tmp_path / "san" / "disks"


def filepath_spec(disks):
    spec = ldaptest()
    spec.hosts["ldapserver"].filepath = str(disks)
    return spec


def test_a_host_with_filepath_has_its_disk_under_that_folder(libvirt_test, mln_conf, tiny, disks):
    build = run(save_project(filepath_spec(disks)), Action.BUILD, mln_conf)
    assert build.status == BuildStatus.SUCCEEDED, build.error
    location = libvirt_xml.location_pool_name("mln.ldaptest", disks / "ldaptest")
    objects = libvirt_test.project_objects("ldaptest")
    assert objects.pools == ["mln.ldaptest", location]
    assert objects.volumes == ["ldapclient.qcow2", "ldapserver.qcow2"]
    assert pool_path(libvirt_test, location) == str(disks / "ldaptest")
    assert (disks / "ldaptest").is_dir()
    server = libvirt_test.volume_path("mln.ldaptest", "ldapserver.qcow2")
    assert server == str(disks / "ldaptest" / "ldapserver.qcow2")
    assert libvirt_test.disk_path("ldaptest.ldapserver") == server
    client = libvirt_test.volume_path("mln.ldaptest", "ldapclient.qcow2")
    assert client == str(mln_conf.projects / "ldaptest" / "ldapclient.qcow2")
    assert libvirt_test.disk_path("ldaptest.ldapclient") == client
    assert (mln_conf.projects / "ldaptest" / "ldapserver.seed.img").is_file()  # seeds stay in the projects folder
    warnings = [e.message for e in build.events.filter(level=EventLevel.WARNING)]
    assert not any("filepath" in w for w in warnings)


def test_building_twice_converges(libvirt_test, mln_conf, tiny, disks):
    project = save_project(filepath_spec(disks))
    run(project, Action.BUILD, mln_conf)
    first = libvirt_test.project_objects("ldaptest")
    again = run(project, Action.BUILD, mln_conf)
    assert again.status == BuildStatus.SUCCEEDED, again.error
    assert libvirt_test.project_objects("ldaptest") == first
    assert {e.message for e in again.events.filter(step__in=["disk", "storage"])} == {"already there"}


def test_remove_leaves_nothing_in_either_place(libvirt_test, mln_conf, tiny, disks):
    project = save_project(filepath_spec(disks))
    run(project, Action.BUILD, mln_conf)
    removal = run(project, Action.REMOVE, mln_conf)
    assert removal.status == BuildStatus.SUCCEEDED, removal.error
    assert not libvirt_test.project_objects("ldaptest")
    assert not [p for p in libvirt_test.conn.listAllStoragePools(0) if p.name().startswith("mln.ldaptest")]
    assert not (mln_conf.projects / "ldaptest").exists()
    assert not (disks / "ldaptest").exists()
    assert disks.is_dir()  # the administrator's folder stays


def test_a_failed_build_undoes_the_disk_and_its_pool(libvirt_test, mln_conf, tiny, disks):
    spec = filepath_spec(disks)
    spec.hosts["ldapserver"].plugins = {"sshkey": {"root": "/no/such/key.pub"}}
    build = run(save_project(spec), Action.BUILD, mln_conf)
    assert build.status == BuildStatus.FAILED
    assert not libvirt_test.project_objects("ldaptest")
    assert not (disks / "ldaptest").exists()


def test_removing_one_host_removes_its_disk_and_pool_elsewhere(libvirt_test, mln_conf, tiny, disks):
    project = save_project(filepath_spec(disks))
    run(project, Action.BUILD, mln_conf)
    build = run(project, Action.REMOVE, mln_conf, host_name="ldapserver")
    assert build.status == BuildStatus.SUCCEEDED, build.error
    objects = libvirt_test.project_objects("ldaptest")
    assert (objects.pools, objects.volumes) == (["mln.ldaptest"], ["ldapclient.qcow2"])
    assert not (disks / "ldaptest").exists()


def test_export_reads_the_disk_where_it_lives_and_import_builds_it_there(libvirt_test, mln_conf, tiny, disks, tmp_path):
    project = save_project(filepath_spec(disks))
    run(project, Action.BUILD, mln_conf)
    materialize_disks(libvirt_test, tiny)
    folder = tmp_path / "export"
    build = run(project, Action.EXPORT, mln_conf, directory=str(folder))
    assert build.status == BuildStatus.SUCCEEDED, build.error
    assert (folder / "ldapserver.qcow2").is_file() and (folder / "ldapclient.qcow2").is_file()
    assert run(project, Action.REMOVE, mln_conf).status == BuildStatus.SUCCEEDED
    assert not libvirt_test.project_objects("ldaptest")
    assert not (disks / "ldaptest").exists()  # the disk file MLN made went with its volume, then the folder
    imported = run(project, Action.IMPORT, mln_conf, directory=str(folder))
    assert imported.status == BuildStatus.SUCCEEDED, imported.error
    assert libvirt_test.disk_path("ldaptest.ldapserver") == str(disks / "ldaptest" / "ldapserver.qcow2")
    assert run(project, Action.REMOVE, mln_conf).status == BuildStatus.SUCCEEDED
    assert not libvirt_test.project_objects("ldaptest")
    assert not (disks / "ldaptest").exists()


def test_a_relative_filepath_is_refused_naming_file_and_line(libvirt_test, mln_conf, tiny):
    spec = ldaptest()
    spec.hosts["ldapserver"].filepath = "disks"
    build = run(save_project(spec), Action.BUILD, mln_conf)
    assert build.status == BuildStatus.FAILED
    assert build.error == "ldaptest.mln:22:1: host ldapserver: filepath 'disks' is not an absolute path"
    assert not libvirt_test.project_objects("ldaptest")


def test_a_filepath_that_cannot_be_made_is_refused_before_anything_is_made(libvirt_test, mln_conf, tiny, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    spec = ldaptest()
    spec.hosts["ldapclient"].filepath = str(blocker / "disks")
    build = run(save_project(spec), Action.BUILD, mln_conf)
    assert build.status == BuildStatus.FAILED
    assert build.error == (
        f"ldaptest.mln:6:1: host ldapclient: filepath {blocker / 'disks'}: cannot make "
        f"{blocker / 'disks' / 'ldaptest'} ({blocker} is not a folder)"
    )
    assert not libvirt_test.project_objects("ldaptest")
    assert not (mln_conf.projects / "ldaptest").exists()


def test_filepath_naming_the_projects_folder_is_the_projects_folder(libvirt_test, mln_conf, tiny):
    spec = ldaptest()
    spec.hosts["ldapserver"].filepath = str(mln_conf.projects)
    assert run(save_project(spec), Action.BUILD, mln_conf).status == BuildStatus.SUCCEEDED
    assert libvirt_test.project_objects("ldaptest").pools == ["mln.ldaptest"]


def test_lvm_warns_that_the_disk_is_a_file(libvirt_test, mln_conf, tiny):
    build = run(save_project(ldaptest()), Action.BUILD, mln_conf)  # Listing 1's hosts say lvm
    warnings = list(build.events.filter(level=EventLevel.WARNING, message__startswith="lvm"))
    assert {(w.host_name, w.message) for w in warnings} == {
        (h, "lvm: built as a file, LVM volumes are not supported yet") for h in ("ldapclient", "ldapserver")
    }


def test_a_pool_named_like_ours_for_another_folder_is_not_ours(libvirt_test, mln_conf, tiny, disks, tmp_path):
    run(save_project(filepath_spec(disks)), Action.BUILD, mln_conf)
    libvirt_test.ensure_pool("mln.ldaptest.deadbeef", str(tmp_path / "elsewhere"))
    assert "mln.ldaptest.deadbeef" not in libvirt_test.project_objects("ldaptest").pools
    assert run(save_project(filepath_spec(disks)), Action.REMOVE, mln_conf).status == BuildStatus.SUCCEEDED
    assert libvirt_test.conn.storagePoolLookupByName("mln.ldaptest.deadbeef")
