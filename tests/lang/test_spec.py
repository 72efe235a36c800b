"""The resolved tree becomes a typed ProjectSpec: units in bytes, positions kept."""

from pathlib import Path

import pytest

from projects import lang
from projects.lang.spec import parse_size

CASES = Path(__file__).parent / "cases"


@pytest.mark.parametrize(
    "text, size",
    [
        ("128M", 128 * 2**20),
        ("256MB", 256 * 2**20),
        ("2GB", 2 * 2**30),
        ("1G", 2**30),
        ("512", 512),
        ("4K", 4096),
        ("1T", 2**40),
        ("64kb", 64 * 1024),
        ("1.5G", 3 * 2**29),
    ],
)
def test_sizes_read_as_powers_of_1024(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "M", "12X", "1 G", "-1M", "1GiB", True])
def test_other_sizes_do_not_read(text):
    assert parse_size(text) is None


def test_ldaptest_becomes_typed_hosts_with_their_positions():
    spec = lang.build_spec(lang.load(CASES / "ldaptest.mln"))
    server = spec.hosts["ldapserver"]
    assert (server.memory, server.size, server.virtualization, server.lvm) == (256 * 2**20, 2 * 2**30, "xen", True)
    assert server.interfaces[0].switch == "LDAPlan" and server.interfaces[0].gateway == "10.0.0.1"
    assert server.position == lang.Position(str(CASES / "ldaptest.mln"), 22, 1)
    assert spec.hosts["ldapclient"].users == {"kyrre": "l47/Y.NtB9p7w"}
    assert spec.switches["LDAPlan"].position.line == 37


def test_positions_survive_includes_into_the_spec():
    spec = lang.build_spec(lang.load(CASES / "os03.mln"))
    assert spec.hosts["win"].position == lang.Position(str(CASES / "oscourse.mln"), 31, 1)
    assert (spec.hosts["win"].vncdisplay, spec.hosts["win"].hvm) == (300, True)


def test_a_spec_round_trips_through_plain_data():
    spec = lang.build_spec(lang.load(CASES / "bioinfo.mln"))
    assert lang.ProjectSpec.from_dict(spec.to_dict()) == spec
    assert spec.hosts["cluster-node-2"].free_space == 2**30


def test_unknown_keys_stay_in_settings_and_host_plugins_in_plugins():
    spec = lang.build_spec(lang.load(CASES / "global_plugins.mln"))
    assert spec.global_settings == {"keep_me": "here"}
    assert spec.hosts["b"].plugins == {
        "apache": {"doc_root": "/var/www", "max_connections": "100"},
        "sshkey": {"nagios": "/home/nagios/.ssh/id.pub"},
    }


def test_a_tree_read_back_from_json_still_builds_without_positions():
    import json

    tree = json.loads(json.dumps(lang.load(CASES / "italy.mln")))
    spec = lang.build_spec(tree)
    assert spec.hosts["uno"].position is None and spec.hosts["uno"].memory == 128 * 2**20


def test_switches_read_nat_and_bridge():
    tree = lang.loads("global { project p }\nswitch a { nat }\nswitch b { bridge br0 }\n")
    spec = lang.build_spec(tree)
    assert (spec.switches["a"].nat, spec.switches["b"].bridge) == (True, "br0")


def test_check_notes_what_is_valid_but_worth_saying():
    notes = lang.check(lang.load(CASES / "os03.mln"))
    assert [str(n) for n in notes] == ["interface eth1 of host ubuntu is on no switch"]
    assert notes[0].position == lang.Position(str(CASES / "oscourse.mln"), 19, 1)
    assert lang.check(lang.load(CASES / "superclasses_nested.mln")) == [
        "host b has no template: the daemon's default_template applies"
    ]
