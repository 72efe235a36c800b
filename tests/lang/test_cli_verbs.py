"""`mln check`, `mln expand`, `mln fmt` as a user runs them."""

import json
import subprocess
import sys
from pathlib import Path

CASES = Path(__file__).parent / "cases"
MLN = str(Path(sys.executable).parent / "mln")


def mln(*args, cwd=None):
    return subprocess.run([MLN, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_check_prints_one_summary_line_and_notes_for_a_valid_file():
    result = mln("check", "-f", CASES / "italy.mln")
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "italy: 3 hosts, 1 switch"
    assert lines[1].endswith(
        "note: nothing on switch lan serves DHCP for hosts uno, due, tre: "
        "add `nat` or `bridge IFACE`, unless a guest runs a DHCP server"
    )
    assert lines[1].startswith(f"{CASES / 'italy.mln'}:22:1:")


def test_check_reports_every_error_on_stderr_with_exit_1(tmp_path):
    (tmp_path / "bad.mln").write_text("global {\n  project $p\n}\nhost a {\n  superclass nope\n}\n")
    result = mln("check", "-f", "bad.mln", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "bad.mln:2:11: error: undefined variable $p",
        "bad.mln:5:14: error: unknown superclass 'nope'",
    ]


def test_check_reports_errors_of_the_checks_after_expansion(tmp_path):
    (tmp_path / "bad.mln").write_text("global { project p }\nhost a {\n  memory lots\n}\n")
    result = mln("check", "-f", tmp_path / "bad.mln")
    assert result.returncode == 1
    assert result.stderr.startswith(f"{tmp_path / 'bad.mln'}:3:10: error: memory 'lots' of host a is not a size")


def test_expand_prints_the_contract_json():
    result = mln("expand", "-f", CASES / "italy.mln")
    assert result.returncode == 0
    assert json.loads(result.stdout) == json.loads((CASES / "italy.json").read_text())


def test_expand_takes_variables_that_win_over_the_file():
    result = mln("expand", "-f", CASES / "os03.mln", "--var", "gnum=11", "--var", "$rpasswd=r00t")
    tree = json.loads(result.stdout)
    assert tree["project"] == "os11" and tree["hosts"]["win"]["root_passwd"] == "r00t"
    assert tree["hosts"]["win"]["users"] == {"osuser11": "unique-value-1"}


def test_expand_finds_absolute_includes_under_an_include_dir(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "hosts.mln").write_text("host a { xen }\n")
    (tmp_path / "main").mkdir()
    (tmp_path / "main" / "p.mln").write_text("global { project p }\n#include /hosts.mln\n")
    assert mln("expand", "-f", tmp_path / "main" / "p.mln").returncode == 1
    result = mln("expand", "-f", tmp_path / "main" / "p.mln", "--include-dir", tmp_path / "lib")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hosts"] == {"a": {"xen": True}}


def test_fmt_prints_the_canonical_layout_which_is_stable(tmp_path):
    (tmp_path / "p.mln").write_text("global{project p}   # the project\nhost a{xen;memory 1G\n  }\n")
    result = mln("fmt", "-f", tmp_path / "p.mln")
    assert result.returncode == 0
    assert result.stdout == "global {\n    project p\n} # the project\nhost a {\n    xen\n    memory 1G\n}\n"
    (tmp_path / "q.mln").write_text(result.stdout)
    assert mln("fmt", "-f", tmp_path / "q.mln").stdout == result.stdout


def test_a_missing_file_is_one_line_with_exit_1(tmp_path):
    for verb in ("check", "expand", "fmt"):
        result = mln(verb, "-f", tmp_path / "nothere.mln")
        assert result.returncode == 1
        assert result.stderr == f"mln: error: file '{tmp_path / 'nothere.mln'}' not found\n"


def test_usage_mistakes_exit_2():
    assert mln("check").returncode == 2
    assert mln("expand", "-f", CASES / "italy.mln", "--var", "novalue").returncode == 2
    assert mln("fmt", "--bogus").returncode == 2


def test_no_traceback_for_binary_or_broken_input(tmp_path):
    (tmp_path / "bin.mln").write_bytes(b"\xff\xfe\x00{{")
    (tmp_path / "broken.mln").write_text('host a {\n  motd "open\n')
    for name in ("bin.mln", "broken.mln"):
        for verb in ("check", "expand", "fmt"):
            result = mln(verb, "-f", tmp_path / name)
            assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
