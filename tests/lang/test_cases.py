"""Every rule of the language contract, as a `.mln` case with the expected `.json` beside it."""

import json
from pathlib import Path

import pytest

from projects import lang

CASES = Path(__file__).parent / "cases"
# The project's shared folder stands beside the checkout (and beside CI's clone).
EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "examples" / "mln"
MLN_FILES = sorted(CASES.glob("*.mln"))


def expanded(path):
    sidecar = path.with_suffix(".vars.json")
    variables = json.loads(sidecar.read_text()) if sidecar.exists() else None
    return lang.load(path, variables=variables)


@pytest.mark.parametrize("path", MLN_FILES, ids=[p.stem for p in MLN_FILES])
def test_case_expands_to_its_json_with_keys_in_order(path):
    expected = path.with_suffix(".json").read_text()
    assert json.dumps(expanded(path), indent=2) + "\n" == expected


@pytest.mark.parametrize("path", MLN_FILES, ids=[p.stem for p in MLN_FILES])
def test_formatted_case_is_stable_and_expands_the_same(path):
    text = path.read_text()
    formatted = lang.format(text, str(path))
    assert lang.format(formatted, str(path)) == formatted
    sidecar = path.with_suffix(".vars.json")
    variables = json.loads(sidecar.read_text()) if sidecar.exists() else None
    tree = lang.loads(formatted, str(path), variables, lang.DirectorySources([CASES]))
    assert tree == expanded(path)


def test_every_case_has_its_expected_json():
    assert [p for p in MLN_FILES if not p.with_suffix(".json").exists()] == []


@pytest.mark.skipif(not EXAMPLES.exists(), reason="the shared examples are not on this machine")
def test_every_listing_of_the_article_is_a_case():
    for example in EXAMPLES.iterdir():
        if example.suffix in (".mln", ".txt"):
            assert (CASES / example.name).read_text() == example.read_text(), example.name


def test_italy_matches_the_contract_example():
    tree = lang.load(CASES / "italy.mln")
    uno = {
        "vmware": True,
        "template": "rhel5.vmdk",
        "memory": "128M",
        "network": {"eth0": {"address": "dhcp", "switch": "lan"}},
        "service_host": "milano",
    }
    assert tree["project"] == "italy" and tree["global"] == {}
    assert tree["hosts"]["uno"] == uno and list(tree["hosts"]["uno"]) == list(uno)
    assert tree["hosts"]["tre"] == {**uno, "memory": "256MB"}
    assert list(tree["hosts"]) == ["uno", "due", "tre"]
    assert tree["switches"] == {"lan": {"vmware": True}}
    assert list(tree) == ["project", "global", "hosts", "switches"]


def test_every_case_but_the_master_builds_a_spec():
    for path in MLN_FILES:
        tree = expanded(path)
        if tree["project"]:
            spec = lang.build_spec(tree)
            assert list(spec.hosts) == list(tree["hosts"])
