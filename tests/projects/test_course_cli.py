"""`mln course expand` as a user runs it: a real process, real files, no database."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import FILES

MLN = str(Path(sys.executable).parent / "mln")


def mln(*args, cwd=None):
    return subprocess.run([MLN, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def oscourse(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(FILES / "oscourse.mln", course)
    shutil.copy(FILES / "oscourse-groups.csv", course)
    return course / "oscourse.mln", course / "oscourse-groups.csv"


def test_course_expand_writes_one_file_per_group_and_each_expands_alone(tmp_path):
    master, table = oscourse(tmp_path)
    out = tmp_path / "out"
    result = mln("course", "expand", "-m", master, "-t", table, "-o", out, "--course", "os")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 60
    assert lines[0].split()[:2] == ["1", "os-01:"] and lines[0].endswith(f"{out}/os-01.mln")
    assert sorted(p.name for p in out.iterdir()) == sorted([f"os-{n:02d}.mln" for n in range(1, 61)] + ["oscourse.mln"])
    expanded = mln("expand", "-f", out / "os-07.mln")
    assert expanded.returncode == 0, expanded.stderr
    tree = json.loads(expanded.stdout)
    assert tree["project"] == "os-07" and list(tree["hosts"]["ubuntu"]["users"]) == ["osuser07"]


def test_course_expand_json_lists_the_expansions_in_row_order(tmp_path):
    master, table = oscourse(tmp_path)
    result = mln("course", "expand", "-m", master, "-t", table, "--json")
    assert result.returncode == 0, result.stderr
    groups = json.loads(result.stdout)
    assert [g["index"] for g in groups] == list(range(1, 61))
    assert groups[0]["project"] == "oscourse-01" and groups[0]["file"] == "oscourse-01.mln"
    assert groups[0]["generated"] == ["rpasswd", "userpasswd", "vncpasswd"]
    assert groups[0]["tree"]["hosts"]["win"]["vncpasswd"] == groups[0]["variables"]["vncpasswd"]
    assert not (tmp_path / "course" / "oscourse-01.mln").exists()  # no -o: nothing written


def test_course_expand_copies_files_found_through_include_dirs(tmp_path):
    lib = tmp_path / "lib"
    (lib / "common").mkdir(parents=True)
    (lib / "common" / "base.mln").write_text("superclass base {\n    memory 64M\n}\n")
    (tmp_path / "m.mln").write_text("#include /common/base.mln\nhost h {\n    superclass base\n}\n")
    (tmp_path / "t.csv").write_text("x\na\n")
    out = tmp_path / "out"
    result = mln(
        "course", "expand", "-m", tmp_path / "m.mln", "-t", tmp_path / "t.csv", "-o", out, "--include-dir", lib
    )
    assert result.returncode == 0, result.stderr
    assert (out / "common" / "base.mln").is_file()
    assert json.loads(mln("expand", "-f", out / "m-1.mln").stdout)["hosts"]["h"]["memory"] == "64M"


def test_course_expand_reports_every_problem_with_positions_and_writes_nothing(tmp_path):
    master, table = oscourse(tmp_path)
    table.write_text("gnum;userpasswd;rpasswd\n01;u;\n02;u;r\n")  # no vncpasswd column, an empty cell
    out = tmp_path / "out"
    result = mln("course", "expand", "-m", master, "-t", table, "-o", out)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{table}:2:3: error: group 1: the cell of column 'rpasswd' is empty, and oscourse.mln:14:17 uses $rpasswd",
        f"{master}:35:15: error: undefined variable $vncpasswd: the table has no column 'vncpasswd'"
        f" (every group, rows 2 to 3 of {table})",
    ]
    assert not out.exists()


def test_course_expand_reports_an_unreadable_table_in_the_same_form(tmp_path):
    master, _ = oscourse(tmp_path)
    result = mln("course", "expand", "-m", master, "-t", tmp_path / "missing.csv")
    assert result.returncode == 1
    assert result.stderr == f"{tmp_path / 'missing.csv'}:1:1: error: cannot read the table: No such file or directory\n"


def test_course_without_a_verb_is_a_usage_mistake(tmp_path):
    result = mln("course")
    assert result.returncode == 2 and "usage: mln course" in result.stderr
