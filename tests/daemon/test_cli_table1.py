"""The Table 1 verbs as a user types them, run in this process (the test driver's guests live here)."""

import json
import shutil
from pathlib import Path

import pytest

from projects.cli import main
from tests.factories import ldaptest, save_project

EXAMPLES = Path(__file__).resolve().parents[1] / "lang" / "cases"  # the article's listings, copied in
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
    vncdisplay 3
    network eth0 { address 10.0.0.2
        netmask 255.255.255.0
        switch LDAPlan }
}
switch LDAPlan { }
"""


@pytest.fixture
def ldaptest_file(tmp_path):
    path = tmp_path / "ldaptest.mln"
    path.write_text(LDAPTEST)
    return path


def mln(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_build_prints_a_line_per_step_and_status_shows_the_hosts(libvirt_test, mln_conf, tiny, ldaptest_file, capsys):
    status, out, err = mln(capsys, "build", "-f", str(ldaptest_file))
    assert status == 0, err
    assert "[1/8] storage: made" in out and "define ldapserver: made" in out
    assert "xen: built as a test guest" in err
    status, out, err = mln(capsys, "status", "-p", "ldaptest", "--json")
    rows = {r["host"]: r for r in json.loads(out)}
    assert rows["ldapserver"]["state"] == "stopped" and rows["ldapserver"]["memory"] == "256M"
    assert rows["ldapserver"]["addresses"] == {"eth0": "10.0.0.2"}
    assert rows["ldapserver"]["service_host"] == "localhost"


def test_start_h_stop_list_and_remove(libvirt_test, mln_conf, tiny, ldaptest_file, capsys):
    mln(capsys, "build", "-f", str(ldaptest_file))
    assert mln(capsys, "start", "-p", "ldaptest", "-h", "ldapserver")[0] == 0
    status, out, _ = mln(capsys, "status", "-p", "ldaptest")
    lines = {line.split()[1]: line for line in out.splitlines()[1:]}
    assert " running " in lines["ldapserver"] and " stopped " in lines["ldapclient"]
    # The test driver runs no display: none is shown, whatever `vncdisplay` the file pins.
    assert "localhost:3" not in lines["ldapserver"]
    assert mln(capsys, "stop", "-p", "ldaptest")[0] == 0
    status, out, _ = mln(capsys, "list")
    assert out.splitlines()[1].split()[:3] == ["ldaptest", "stopped", "2"]
    assert mln(capsys, "remove", "-p", "ldaptest")[0] == 0
    assert not libvirt_test.project_objects("ldaptest")


def test_rebuild_with_r(libvirt_test, mln_conf, tiny, ldaptest_file, capsys):
    mln(capsys, "build", "-f", str(ldaptest_file))
    status, out, _ = mln(capsys, "build", "-f", str(ldaptest_file), "-r")
    assert status == 0 and "undefine ldaptest.ldapclient: removed" in out


def test_errors_are_one_line_with_exit_1(libvirt_test, mln_conf, tiny, tmp_path, capsys):
    bad = tmp_path / "bad.mln"
    bad.write_text(LDAPTEST.replace("template tiny", "template nosuch", 1))
    status, _, err = mln(capsys, "build", "-f", str(bad))
    assert status == 1
    assert err.splitlines()[-1] == f"mln: error: build ldaptest: {bad}:2:1: host ldapclient: unknown template 'nosuch'"
    assert "Traceback" not in err
    assert mln(capsys, "start", "-p", "nosuch")[2] == "mln: error: no project 'nosuch'\n"
    status, _, err = mln(capsys, "start", "-p", "ldaptest", "-h", "nosuch")
    assert (status, err) == (1, "mln: error: project ldaptest has no host nosuch\n")


def test_the_p_option_before_the_verb_moves_the_projects_folder(
    libvirt_test, mln_conf, tiny, ldaptest_file, tmp_path, capsys
):
    assert mln(capsys, "-P", str(tmp_path / "elsewhere"), "build", "-f", str(ldaptest_file))[0] == 0
    assert (tmp_path / "elsewhere" / "ldaptest" / "ldapserver.seed.img").is_file()


def test_export_and_import_verbs(libvirt_test, mln_conf, tiny, tmp_path, capsys):
    from .test_export import materialize_disks

    save_project(ldaptest())
    mln(capsys, "build", "-f", str(write(tmp_path)))
    materialize_disks(libvirt_test, tiny)
    assert mln(capsys, "export", "-p", "ldaptest", "-d", str(tmp_path / "out"), "-z")[0] == 0
    assert mln(capsys, "remove", "-p", "ldaptest")[0] == 0
    status, out, err = mln(capsys, "import", "-p", "ldaptest", "-d", str(tmp_path / "out"))
    assert status == 0, err
    assert "import disk ldapserver: made" in out
    assert mln(capsys, "start", "-p", "ldaptest")[0] == 0
    (tmp_path / "out" / "project.mln").write_text("changed")
    status, _, err = mln(capsys, "import", "-p", "copy", "-d", str(tmp_path / "out"))
    assert status == 1 and "project.mln does not match its SHA-256 sum" in err


def write(tmp_path):
    path = tmp_path / "ldaptest.mln"
    path.write_text(LDAPTEST)
    return path


def test_the_articles_listing_1_builds_unchanged_but_for_its_templates(libvirt_test, mln_conf, tiny, tmp_path, capsys):
    from templates_registry.models import Template

    for name in ("ubuntu-client.ext3", "ubuntu-ldap.ext3"):
        Template.register(tiny.image, name=name)
    shutil.copy(EXAMPLES / "ldaptest.mln", tmp_path)
    status, _, err = mln(capsys, "build", "-f", str(tmp_path / "ldaptest.mln"))
    assert status == 0, err
    assert "lvm: built as a file, LVM volumes are not supported yet" in err


def test_a_language_error_in_build_is_reported_as_file_line_column(mln_conf, tmp_path, capsys):
    path = tmp_path / "broken.mln"
    path.write_text("global { project broken }\nhost a {\n    template tiny\n    network eth0 { switch nowhere }\n}\n")
    status, _, err = mln(capsys, "build", "-f", str(path))
    assert (status, err) == (1, f"{path}:4:27: error: switch 'nowhere' of host a eth0 is not defined\n")
