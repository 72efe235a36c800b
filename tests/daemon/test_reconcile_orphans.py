"""`mln list` and `mln remove` find what MLN made in libvirt whose Project row is gone (libvirt's test
driver), and remove it by libvirt's records alone: never anything MLN did not make."""

from projects.choices import Action, BuildStatus
from projects.cli import main
from projects.models import Project
from tests.factories import ldaptest, one_host, save_project

from .test_build import run


def mln(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def orphan(libvirt_test, mln_conf):
    """ldaptest built and running, then its row deleted behind MLN's back (as the admin once could)."""
    project = save_project(ldaptest(nat=True))
    assert run(project, Action.BUILD, mln_conf).status == BuildStatus.SUCCEEDED
    run(project, Action.START, mln_conf)
    project.delete()


def test_the_hypervisor_names_every_project_mln_made_there(libvirt_test, mln_conf, tiny):
    orphan(libvirt_test, mln_conf)
    assert libvirt_test.mln_projects() == {"ldaptest"}


def test_list_shows_an_orphan_beside_the_rows(libvirt_test, mln_conf, tiny, capsys):
    orphan(libvirt_test, mln_conf)
    save_project(one_host("kept"))
    status, out, err = mln(capsys, "list")
    assert status == 0, err
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "orphan: no row" in lines["ldaptest"] and lines["ldaptest"].split()[-1] == "2"  # two domains
    assert "orphan" not in lines["kept"]


def test_remove_of_an_orphan_leaves_nothing_of_it(libvirt_test, mln_conf, tiny, capsys):
    orphan(libvirt_test, mln_conf)
    stranger = mln_conf.projects / "ldaptest" / "notes.txt"  # a file MLN did not make, in its folder
    stranger.write_text("mine")
    status, out, err = mln(capsys, "remove", "-p", "ldaptest")
    assert status == 0, err
    assert "no row; removing what libvirt holds for it" in out
    assert "undefine ldaptest.ldapserver: removed" in out
    assert not libvirt_test.project_objects("ldaptest")
    assert libvirt_test.mln_projects() == set()
    assert [d.name() for d in libvirt_test.conn.listAllDomains()] == ["test"]  # the driver's own stays
    left = sorted(p.name for p in (mln_conf.projects / "ldaptest").iterdir())
    assert left == [".mln-project", "notes.txt"]  # every disk and seed went; the folder stays for notes.txt
    assert "kept" in err  # said, not deleted
    assert not Project.objects.exists()


def test_remove_of_a_name_mln_never_made_touches_nothing(libvirt_test, mln_conf, tiny, capsys):
    libvirt_test.conn.networkDefineXML(
        "<network><name>stranger.net</name><bridge name='virbr-strg'/></network>"
    )  # named like MLN's, without its metadata
    try:
        status, _out, err = mln(capsys, "remove", "-p", "stranger")
        assert status != 0
        assert "no project 'stranger': no row, and nothing MLN made for it in test:///default" in err
        assert "stranger.net" in [n.name() for n in libvirt_test.conn.listAllNetworks()]
    finally:
        libvirt_test.conn.networkLookupByName("stranger.net").undefine()


def test_list_without_orphans_shows_only_rows(libvirt_test, mln_conf, tiny, capsys):
    save_project(ldaptest())
    status, out, _err = mln(capsys, "list")
    assert status == 0 and "orphan" not in out and "ldaptest" in out
