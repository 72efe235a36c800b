"""Host resources a course file asks for: only what mln.conf allows, refused with file and line.

Folders (`filepath`, `lvm_vg`), bridges, VNC displays and the sizes of memory, vcpus and disks;
and a folder is a project's only when MLN made it for that project (daemon/agent/storage.py). These
run on libvirt's test driver; tests/daemon/test_host_resources_qemu.py does the folders on a
real `dir` pool, where libvirt lists every file of the folder as a volume.
"""

from pathlib import Path

import pytest

from daemon import conf as mlnconf
from daemon.agent import storage
from daemon.agent.plan import resource_problems
from projects.choices import Action, BuildStatus, EventLevel
from projects.lang import build_spec, loads
from tests.factories import ldaptest, save_project

from .test_build import run


def conf_with(mln_conf, text):
    path = Path(mln_conf.path)
    path.write_text(path.read_text() + text)
    return mlnconf.load()


@pytest.fixture
def roots(tmp_path):
    root = tmp_path / "storage"
    root.mkdir()
    return root


@pytest.fixture
def conf(mln_conf, roots):
    return conf_with(mln_conf, f"storage_roots {roots}\n")


def refused(build, libvirt_test, conf, error):
    assert build.status == BuildStatus.FAILED
    assert build.error == error
    assert not libvirt_test.project_objects("ldaptest")
    assert not (conf.projects / "ldaptest").exists() or not storage.marked(conf.projects / "ldaptest", "ldaptest")


# --- folders ----------------------------------------------------------------------------


def test_a_filepath_outside_storage_roots_is_refused_naming_file_and_line(libvirt_test, conf, tiny, tmp_path):
    spec = ldaptest()
    spec.hosts["ldapserver"].filepath = "/"  # with project `etc`, the old code made /etc the disks' folder
    build = run(save_project(spec), Action.BUILD, conf)
    refused(
        build,
        libvirt_test,
        conf,
        f"ldaptest.mln:22:1: host ldapserver: filepath / is not under a folder of storage_roots of {conf.path}",
    )


def test_without_storage_roots_no_filepath_is_allowed(libvirt_test, mln_conf, tiny, tmp_path):
    spec = ldaptest()
    spec.hosts["ldapclient"].filepath = str(tmp_path / "disks")
    build = run(save_project(spec), Action.BUILD, mln_conf)
    assert build.status == BuildStatus.FAILED
    assert "ldaptest.mln:6:1: host ldapclient: filepath" in build.error and "storage_roots" in build.error
    assert not (tmp_path / "disks").exists()


def test_a_filepath_whose_link_leads_out_of_the_roots_is_refused(libvirt_test, conf, tiny, roots, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (roots / "link").symlink_to(outside)
    spec = ldaptest()
    spec.hosts["ldapserver"].filepath = str(roots / "link")
    build = run(save_project(spec), Action.BUILD, conf)
    assert build.status == BuildStatus.FAILED
    assert build.error.startswith(f"ldaptest.mln:22:1: host ldapserver: filepath {roots / 'link'}: ")
    assert f"leads to {outside / 'ldaptest'}, not under a folder of storage_roots" in build.error
    assert list(outside.iterdir()) == []


def test_the_san_path_is_an_allowed_root(libvirt_test, mln_conf, tiny, tmp_path):
    conf = conf_with(mln_conf, f"san_path {tmp_path / 'san'}\n")
    spec = ldaptest()
    spec.hosts["ldapserver"].filepath = str(tmp_path / "san" / "lab")
    build = run(save_project(spec), Action.BUILD, conf)
    assert build.status == BuildStatus.SUCCEEDED, build.error
    assert storage.marked(tmp_path / "san" / "lab" / "ldaptest", "ldaptest")


def test_an_existing_folder_mln_did_not_make_is_refused_not_reused(libvirt_test, conf, tiny, roots):
    theirs = roots / "ldaptest"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("someone's work")
    spec = ldaptest()
    spec.hosts["ldapserver"].filepath = str(roots)
    build = run(save_project(spec), Action.BUILD, conf)
    refused(
        build,
        libvirt_test,
        conf,
        f"ldaptest.mln:22:1: host ldapserver: filepath {roots}: {theirs} exists and was not made by MLN "
        "for project ldaptest (it has no .mln-project naming it)",
    )
    assert sorted(p.name for p in theirs.iterdir()) == ["thesis.tex"]


def test_a_folder_mln_made_for_another_project_is_refused(libvirt_test, conf, tiny, roots):
    storage.make(roots / "ldaptest", "other")
    spec = ldaptest()
    spec.hosts["ldapserver"].filepath = str(roots)
    build = run(save_project(spec), Action.BUILD, conf)
    assert build.status == BuildStatus.FAILED
    assert "was not made by MLN for project ldaptest" in build.error
    assert (roots / "ldaptest" / storage.MARKER).read_text() == "other"


def test_an_existing_project_folder_mln_did_not_make_is_refused(libvirt_test, conf, tiny):
    theirs = conf.projects / "ldaptest"
    theirs.mkdir(parents=True)
    (theirs / "notes.txt").write_text("not MLN's")
    build = run(save_project(ldaptest()), Action.BUILD, conf)
    assert build.status == BuildStatus.FAILED
    assert build.error == (
        f"project ldaptest: {theirs} exists and was not made by MLN for project ldaptest "
        "(it has no .mln-project naming it)"
    )
    assert not libvirt_test.project_objects("ldaptest")
    assert sorted(p.name for p in theirs.iterdir()) == ["notes.txt"]


def test_remove_deletes_only_the_files_mln_named_and_keeps_a_folder_that_holds_others(libvirt_test, conf, tiny, roots):
    spec = ldaptest()
    spec.hosts["ldapserver"].filepath = str(roots)
    project = save_project(spec)
    assert run(project, Action.BUILD, conf).status == BuildStatus.SUCCEEDED
    folder = conf.projects / "ldaptest"
    (folder / "report.pdf").write_text("a student's report, copied here by hand")
    removal = run(project, Action.REMOVE, conf)
    assert removal.status == BuildStatus.SUCCEEDED, removal.error
    assert sorted(p.name for p in folder.iterdir()) == [storage.MARKER, "report.pdf"]
    assert not (roots / "ldaptest").exists()  # only MLN's files were in that one
    assert not libvirt_test.project_objects("ldaptest")
    warnings = [e.message for e in removal.events.filter(level=EventLevel.WARNING)]
    assert warnings == [f"kept {folder}: it holds files this removal does not name (report.pdf)"]


def test_a_build_after_a_kept_folder_adopts_it_again(libvirt_test, conf, tiny):
    project = save_project(ldaptest())
    run(project, Action.BUILD, conf)
    (conf.projects / "ldaptest" / "report.pdf").write_text("kept")
    run(project, Action.REMOVE, conf)
    build = run(project, Action.BUILD, conf)
    assert build.status == BuildStatus.SUCCEEDED, build.error
    assert (conf.projects / "ldaptest" / "report.pdf").read_text() == "kept"


def test_lvm_vg_must_be_one_mln_conf_allows(libvirt_test, mln_conf, tiny):
    conf = conf_with(mln_conf, "lvm_vg vmgroup\nlvm_allow fastvg\n")
    spec = ldaptest()
    spec.hosts["ldapserver"].lvm_vg = "rootvg"
    build = run(save_project(spec), Action.BUILD, conf)
    refused(
        build,
        libvirt_test,
        conf,
        f"ldaptest.mln:22:1: host ldapserver: lvm_vg rootvg is not a volume group "
        f"{conf.path} allows (lvm_vg, lvm_allow)",
    )
    for allowed in ("vmgroup", "fastvg"):
        spec.hosts["ldapserver"].lvm_vg = allowed
        assert run(save_project(spec), Action.BUILD, conf).status == BuildStatus.SUCCEEDED


# --- bridges and displays -------------------------------------------------------------------


def bridged(iface):
    spec = ldaptest()
    spec.switches["LDAPlan"].bridge = iface
    return spec


def test_a_bridge_not_in_bridge_allow_is_refused_naming_file_and_line(libvirt_test, mln_conf, tiny):
    conf = conf_with(mln_conf, "bridge_allow br-lab br-dmz\n")
    # Another project's isolated switch: its bridge name is computable from the names.
    build = run(save_project(bridged("mln0123456789ab")), Action.BUILD, conf)
    refused(
        build,
        libvirt_test,
        conf,
        f"ldaptest.mln:38:1: switch LDAPlan: bridge mln0123456789ab is not in bridge_allow of {conf.path}",
    )


def test_no_bridge_is_allowed_without_bridge_allow(libvirt_test, mln_conf, tiny):
    build = run(save_project(bridged("virbr0")), Action.BUILD, mln_conf)
    assert build.status == BuildStatus.FAILED
    assert build.error == f"ldaptest.mln:38:1: switch LDAPlan: bridge virbr0 is not in bridge_allow of {mln_conf.path}"


def test_a_bridge_in_bridge_allow_is_used(libvirt_test, mln_conf, tiny):
    conf = conf_with(mln_conf, "bridge_allow br-lab\n")
    build = run(save_project(bridged("br-lab")), Action.BUILD, conf)
    assert build.status == BuildStatus.SUCCEEDED, build.error
    xml = libvirt_test.conn.networkLookupByName("ldaptest.LDAPlan").XMLDesc(0)
    assert "<bridge name='br-lab'" in xml or '<bridge name="br-lab"' in xml


def pinned(display):
    spec = ldaptest()
    spec.hosts["ldapserver"].vncdisplay = display
    return spec


def test_a_display_outside_vncdisplay_range_is_refused(libvirt_test, mln_conf, tiny):
    build = run(save_project(pinned(2)), Action.BUILD, conf_with(mln_conf, "vncdisplay_range 100-199\n"))
    assert build.status == BuildStatus.FAILED
    assert build.error == (
        f"ldaptest.mln:22:1: host ldapserver: vncdisplay 2 is outside vncdisplay_range 100-199 of {mln_conf.path}"
    )
    assert not libvirt_test.project_objects("ldaptest")


def test_no_display_may_be_pinned_without_vncdisplay_range(libvirt_test, mln_conf, tiny):
    path = Path(mln_conf.path)
    path.write_text(path.read_text().replace("vncdisplay_range", "# vncdisplay_range"))
    conf = mlnconf.load()
    build = run(save_project(pinned(2)), Action.BUILD, conf)
    assert build.status == BuildStatus.FAILED
    assert build.error == (
        f"ldaptest.mln:22:1: host ldapserver: vncdisplay 2: {conf.path} sets no vncdisplay_range, "
        "so no display may be pinned"
    )


def test_a_display_inside_the_range_is_pinned(libvirt_test, mln_conf, tiny):
    build = run(save_project(pinned(150)), Action.BUILD, conf_with(mln_conf, "vncdisplay_range 100-199\n"))
    assert build.status == BuildStatus.SUCCEEDED, build.error
    xml = libvirt_test.conn.lookupByName("ldaptest.ldapserver").XMLDesc(0)
    assert "port='6050'" in xml or 'port="6050"' in xml


# --- sizes ------------------------------------------------------------------------------------


def test_memory_vcpus_and_disk_above_the_maximums_are_refused_at_build(libvirt_test, mln_conf, tiny):
    conf = conf_with(mln_conf, "max_memory 1G\nmax_vcpus 2\nmax_disk 4G\n")
    spec = ldaptest()
    server = spec.hosts["ldapserver"]
    server.memory, server.vcpus, server.size = 999999 << 30, 64, 8 << 30
    build = run(save_project(spec), Action.BUILD, conf)
    assert build.status == BuildStatus.FAILED
    assert build.error.splitlines() == [
        f"ldaptest.mln:22:1: host ldapserver: memory 1023998976 MiB is above max_memory 1024 MiB of {conf.path}",
        f"ldaptest.mln:22:1: host ldapserver: size 8192 MiB is above max_disk 4096 MiB of {conf.path}",
        f"ldaptest.mln:22:1: host ldapserver: vcpus 64 is above max_vcpus 2 of {conf.path}",
    ]
    assert not libvirt_test.project_objects("ldaptest")


def test_the_maximums_themselves_are_allowed(libvirt_test, mln_conf, tiny):
    conf = conf_with(mln_conf, "max_memory 256M\nmax_vcpus 2\nmax_disk 2G\n")
    spec = ldaptest()
    spec.hosts["ldapserver"].vcpus = 2
    build = run(save_project(spec), Action.BUILD, conf)  # Listing 1: 256M and 2G
    assert build.status == BuildStatus.SUCCEEDED, build.error


# --- at upload: the same checks, without libvirt ------------------------------------------------

LAB = """global { project lab }
host web {
    memory 64G
    vcpus 3
    size 2T
    vncdisplay 5
    filepath /etc
    lvm_vg rootvg
    network eth0 { switch lan }
}
host db {
    memory 128M
    filepath /srv/mln/disks
}
switch lan {
    bridge br0
}
"""


def test_resource_problems_lists_every_refusal_with_file_line_and_column(tmp_path):
    conf_file = tmp_path / "mln.conf"
    conf_file.write_text("max_memory 16G\nmax_vcpus 2\nmax_disk 256G\nstorage_roots /srv/mln\n")
    conf = mlnconf.load(conf_file)
    spec = build_spec(loads(LAB, "lab.mln"))
    assert resource_problems(spec, conf) == [
        f"lab.mln:2:1: host web: memory 65536 MiB is above max_memory 16384 MiB of {conf_file}",
        f"lab.mln:2:1: host web: size 2097152 MiB is above max_disk 262144 MiB of {conf_file}",
        f"lab.mln:2:1: host web: vcpus 3 is above max_vcpus 2 of {conf_file}",
        f"lab.mln:2:1: host web: vncdisplay 5: {conf_file} sets no vncdisplay_range, so no display may be pinned",
        f"lab.mln:2:1: host web: lvm_vg rootvg is not a volume group {conf_file} allows (lvm_vg, lvm_allow)",
        f"lab.mln:2:1: host web: filepath /etc is not under a folder of storage_roots of {conf_file}",
        f"lab.mln:15:1: switch lan: bridge br0 is not in bridge_allow of {conf_file}",
    ]


def test_resource_problems_is_empty_for_what_mln_conf_allows(tmp_path):
    conf_file = tmp_path / "mln.conf"
    conf_file.write_text(
        "max_memory 64G\nmax_vcpus 4\nmax_disk 2T\nstorage_roots /srv/mln /mnt/a\n"
        "vncdisplay_range 0-9\nlvm_allow rootvg\nbridge_allow br0\n"
    )
    text = LAB.replace("filepath /etc", "filepath /srv/mln/disks")
    assert resource_problems(build_spec(loads(text, "lab.mln")), mlnconf.load(conf_file)) == []


def test_a_filepath_climbing_out_of_a_root_is_a_problem(tmp_path):
    conf_file = tmp_path / "mln.conf"
    conf_file.write_text("storage_roots /srv/mln\n")
    text = LAB.replace("filepath /srv/mln/disks", "filepath /srv/mln/../../etc")
    problems = resource_problems(build_spec(loads(text, "lab.mln")), mlnconf.load(conf_file))
    assert (
        f"lab.mln:11:1: host db: filepath /srv/mln/../../etc is not under a folder of storage_roots of {conf_file}"
        in problems
    )


def test_a_folder_that_appears_between_plan_and_build_is_still_refused(libvirt_test, tmp_path):
    # The plan looked first; the step that makes the folder checks again, as it makes it.
    theirs = tmp_path / "lab"
    theirs.mkdir()
    with pytest.raises(storage.FolderError, match="was not made by MLN for project lab"):
        libvirt_test.ensure_overlay("mln.lab", str(theirs / "web.qcow2"), 1 << 30, "/dev/null", "raw")
    assert list(theirs.iterdir()) == []
    assert not [p for p in libvirt_test.conn.listAllStoragePools(0) if p.name().startswith("mln.lab")]
