"""Plugins come through the `mln.plugins` entry points, a third party's as well as ours."""

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from projects import lang
from projects.lang import plugins
from projects.lang.plugins.apache import Apache
from projects.lang.plugins.autoenum import Autoenum

PLUGIN_PKG = Path(__file__).parent / "plugin_pkg"
MLN = Path(sys.executable).parent / "mln"
MOTD = 'global {\n  project p\n  motd { text "hello all" }\n}\nhost a { }\nhost b {\n  motd { text "hi b" }\n}\n'


@pytest.fixture
def motd_plugin(tmp_path, monkeypatch):
    """The third party's package made importable the way an install does: setuptools writes its
    metadata (entry_points.txt) from its own pyproject.toml into a folder on sys.path."""
    subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "egg_info", "--egg-base", str(tmp_path)],
        cwd=PLUGIN_PKG,
        check=True,
        capture_output=True,
    )
    monkeypatch.syspath_prepend(str(PLUGIN_PKG))
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.discover.cache_clear()
    yield os.pathsep.join([str(tmp_path), str(PLUGIN_PKG)])
    plugins.discover.cache_clear()


def test_built_in_plugins_are_found_through_entry_points_by_their_keyword():
    names = {ep.name for ep in entry_points(group="mln.plugins")}
    assert {"autoenum", "apache", "sshkey"} <= names
    assert set(plugins.generators()) >= {"autoenum"} and isinstance(plugins.generators()["autoenum"], Autoenum)
    assert set(plugins.host_plugins()) >= {"apache", "sshkey"} and isinstance(plugins.host_plugins()["apache"], Apache)


def test_a_third_party_plugin_is_found_without_touching_our_code(motd_plugin):
    assert "motd" in {ep.name for ep in entry_points(group="mln.plugins")}
    tree = lang.loads(MOTD)
    assert tree["global"] == {}
    assert tree["hosts"]["a"] == {"motd": {"text": "hello all"}}
    assert tree["hosts"]["b"] == {"motd": {"text": "hi b"}}
    assert lang.build_spec(tree).hosts["b"].plugins == {"motd": {"text": "hi b"}}


def test_a_third_party_plugin_checks_its_own_block(motd_plugin):
    with pytest.raises(lang.MlnError) as caught:
        lang.loads("global { project p }\nhost a {\n  motd { }\n}\n")
    assert (caught.value.kind, caught.value.line, caught.value.col) == ("plugin", 3, 3)


def test_the_command_line_sees_a_third_party_plugin(motd_plugin, tmp_path):
    (tmp_path / "p.mln").write_text(MOTD)
    env = {**os.environ, "PYTHONPATH": motd_plugin}
    result = subprocess.run(
        [str(MLN), "expand", "-f", str(tmp_path / "p.mln")], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hosts"]["a"] == {"motd": {"text": "hello all"}}


def test_without_the_plugin_its_block_is_an_ordinary_setting():
    assert lang.loads(MOTD)["global"] == {"motd": {"text": "hello all"}}


def test_host_plugins_describe_the_guest_configuration():
    tree = lang.load(Path(__file__).parent / "cases" / "webserv.mln")
    spec = lang.build_spec(tree)
    web = spec.hosts["web14"]
    assert plugins.host_plugins()["apache"].guest_config(web.plugins["apache"]) == {
        "doc_root": "/var/www",
        "max_connections": 300,
    }
    assert plugins.host_plugins()["sshkey"].guest_config(web.plugins["sshkey"]) == {
        "keys": [{"user": "nagios", "file": "/home/nagios/.ssh/pubkey.outgoing"}]
    }


def test_autoenum_deals_service_hosts_round_robin_and_addresses_in_order():
    tree = lang.load(Path(__file__).parent / "cases" / "bioinfo.mln")
    hosts = tree["hosts"]
    assert len(hosts) == 36 and list(hosts)[0] == "cluster-node-1" and list(hosts)[-1] == "cluster-node-36"
    assert [hosts[f"cluster-node-{n}"]["service_host"] for n in (1, 4, 5, 36)] == [
        "node-a",
        "node-d",
        "node-a",
        "node-d",
    ]
    assert hosts["cluster-node-36"]["network"]["eth0"] == {
        "gateway": "192.168.33.211",
        "address": "128.39.73.185",
        "netmask": "255.255.255.0",
    }
