"""mln.conf: Table 2 read with the .mln lexical rules, defaults, -P/-T/-F."""

from pathlib import Path

import pytest

from daemon import conf

EXAMPLE = Path(__file__).resolve().parents[1] / "lang" / "cases" / "mln.conf"  # Table 2, as shared/examples has it
TABLE_2 = """# Table 2 of the MLN article
projects /opt/mln/projects
templates /opt/mln/templates
default_template debian-12-small.qcow2
default_memory 64M
default_size 250M
service_host bigvmbox
daemon_listen_address 127.0.0.1
daemon_status_query bigvmbox
daemon_status_query newvmbox
files "/opt/mln/my files"   # quoted, with a comment after it
"""


def test_table_2_is_read_with_repeats_and_units(tmp_path):
    path = tmp_path / "mln.conf"
    path.write_text(TABLE_2)
    loaded = conf.load(path)
    assert loaded.projects == Path("/opt/mln/projects")
    assert loaded.files == Path("/opt/mln/my files")
    assert loaded.default_template == "debian-12-small.qcow2"
    assert (loaded.default_memory, loaded.default_size) == (64 << 20, 250 << 20)
    assert loaded.service_host == "bigvmbox" and loaded.queue_name == "mln.bigvmbox"
    assert loaded.statements["daemon_status_query"] == ["bigvmbox", "newvmbox"]


def test_a_missing_file_means_every_default(tmp_path):
    loaded = conf.load(tmp_path / "none.conf")
    assert loaded.service_host == "localhost"
    assert loaded.libvirt_uri == "qemu:///system"
    assert loaded.listen_address == "127.0.0.1"
    assert loaded.projects.name == "projects" and loaded.projects.parent.name == "var"
    assert loaded.kvm is False


def test_the_command_line_overrides_the_three_folders(tmp_path):
    path = tmp_path / "mln.conf"
    path.write_text(TABLE_2)
    loaded = conf.load(path, projects=tmp_path / "p", templates=tmp_path / "t", files=tmp_path / "f")
    assert (loaded.projects, loaded.templates, loaded.files) == (tmp_path / "p", tmp_path / "t", tmp_path / "f")


def test_mln_conf_environment_variable_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "mln.conf"
    path.write_text("service_host milano\n")
    monkeypatch.setenv("MLN_CONF", str(path))
    assert conf.load().service_host == "milano"


def test_a_bad_value_names_file_and_line(tmp_path):
    path = tmp_path / "mln.conf"
    path.write_text("service_host x\ndefault_memory lots\n")
    with pytest.raises(conf.ConfError, match=r"mln.conf:2: default_memory: not a size"):
        conf.load(path)


def test_the_articles_example_reads():
    assert conf.load(EXAMPLE).default_memory == 64 << 20
