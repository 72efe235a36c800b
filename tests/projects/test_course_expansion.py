"""A master and a variable table become one project per group (no database)."""

import re

import pytest

from projects.courses import PASSWORD_ALPHABET, CourseError, expand_course
from projects.lang import MemorySources, load, loads
from projects.variable_table import read_table

from .conftest import FILES, OSCOURSE, OSCOURSE_TABLE, table_bytes

HEADER = ("gnum", "userpasswd", "rpasswd", "vncpasswd")


def expand(files, *rows, course="os", previous=None, name="groups.csv"):
    return expand_course(course, "oscourse.mln", files, read_table(name, table_bytes(*rows)), previous)


def problems_of(files, *rows, **kwargs):
    with pytest.raises(CourseError) as caught:
        expand(files, *rows, **kwargs)
    return [str(p) for p in caught.value.problems]


def test_the_sixty_groups_of_listings_4_and_5_become_sixty_projects(oscourse_files):
    expansion = expand_course("os", "oscourse.mln", oscourse_files, read_table("groups.csv", OSCOURSE_TABLE))
    assert [g.project for g in expansion.groups] == [f"os-{n:02d}" for n in range(1, 61)]
    group = expansion.groups[2]
    assert (group.index, group.row) == (3, 4)
    assert list(group.tree["hosts"]) == ["ubuntu", "win"]
    assert list(group.tree["hosts"]["ubuntu"]["users"]) == ["osuser03"]
    assert group.spec.hosts["ubuntu"].memory == 128 * 2**20
    assert group.spec.hosts["win"].template == "winXP.template"
    assert list(group.spec.switches) == ["lan"]


def test_the_same_table_saved_with_a_bom_and_semicolons_gives_the_same_projects(oscourse_files):
    european = b"\xef\xbb\xbf" + OSCOURSE_TABLE.replace(b",", b";").replace(b"\n", b"\r\n")
    expansion = expand_course("os", "oscourse.mln", oscourse_files, read_table("groups.csv", european))
    assert [g.project for g in expansion.groups] == [f"os-{n:02d}" for n in range(1, 61)]
    assert [g.variables["gnum"] for g in expansion.groups] == [f"{n:02d}" for n in range(1, 61)]
    assert all(len(g.generated) == 3 for g in expansion.groups)


def test_a_group_expands_exactly_as_listing_4_does(oscourse_files):
    expansion = expand(
        oscourse_files,
        HEADER,
        ("01", "a", "b", "c"),
        ("02", "d", "e", "f"),
        ("03", "unique-value-1", "unique-value-2", "unique-value-3"),
    )
    listing_4 = load(FILES / "os03.mln")
    group = expansion.groups[2]
    assert {**group.tree, "project": "os03"} == listing_4
    assert list(group.tree) == list(listing_4)


def test_a_group_file_holds_the_row_a_project_line_and_the_include_of_the_master(oscourse_files):
    group = expand(oscourse_files, HEADER, ("07", "u", "r", "v")).groups[0]
    body = [line.strip() for line in group.source.splitlines() if line.strip() and not line.startswith("#")]
    assert body == [
        "global {",
        "$gnum = 07",
        "$userpasswd = u",
        "$rpasswd = r",
        "$vncpasswd = v",
        "$index = 1",
        "$course = os",
        "project = os-1",
        "}",
    ]
    assert group.source.rstrip().endswith("#include oscourse.mln")
    assert group.source_name == "os-1.mln"


def test_the_group_file_alone_expands_to_the_groups_project(oscourse_files, tmp_path):
    expansion = expand(oscourse_files, HEADER, ("01", "@random", "pa$s word", 'q"uote'), ("02", "x", "y", "z"))
    for name, text in expansion.output_files().items():
        (tmp_path / name).write_text(text)
    for group in expansion.groups:
        assert load(tmp_path / group.source_name) == group.tree


def test_the_project_line_is_left_out_when_the_master_names_the_project():
    files = {"oscourse.mln": OSCOURSE + "\nglobal {\n    project = os$[gnum]\n}\n"}
    expansion = expand(files, HEADER, ("01", "u", "r", "v"), ("02", "u", "r", "v"))
    assert [g.project for g in expansion.groups] == ["os01", "os02"]
    assert "project" not in expansion.groups[0].source.split("#include")[0].replace("# Group", "")


def test_the_index_in_a_project_name_is_padded_to_the_width_of_the_row_count(oscourse_files):
    nine = expand(oscourse_files, HEADER, *[("01", "u", "r", "v")] * 9)
    ten = expand(oscourse_files, HEADER, *[("01", "u", "r", "v")] * 10)
    assert [g.project for g in nine.groups][-1] == "os-9"
    assert [g.project for g in ten.groups][0] == "os-01"
    assert [g.project for g in ten.groups][-1] == "os-10"


def test_index_and_course_are_variables_of_every_group():
    files = {"m.mln": "global { project $course-lab$index }\nhost h$index { memory 64M }\n"}
    expansion = expand_course("net", "m.mln", files, read_table("t.csv", table_bytes(("x",), ("a",), ("b",))))
    assert [(g.project, list(g.tree["hosts"])) for g in expansion.groups] == [
        ("net-lab1", ["h1"]),
        ("net-lab2", ["h2"]),
    ]


def test_random_cells_become_distinct_sixteen_character_unambiguous_passwords(oscourse_files):
    expansion = expand_course("os", "oscourse.mln", oscourse_files, read_table("groups.csv", OSCOURSE_TABLE))
    passwords = [p for g in expansion.groups for p in g.generated.values()]
    assert len(passwords) == 180 and len(set(passwords)) == 180
    assert all(len(p) == 16 and set(p) <= set(PASSWORD_ALPHABET) for p in passwords)
    assert not set("0O1lI") & set(PASSWORD_ALPHABET)
    group = expansion.groups[0]
    assert group.generated == {c: group.variables[c] for c in ("userpasswd", "rpasswd", "vncpasswd")}
    assert group.tree["hosts"]["win"]["vncpasswd"] == group.generated["vncpasswd"]


def test_expanding_again_keeps_every_generated_password(oscourse_files):
    first = expand(oscourse_files, HEADER, ("01", "@random", "@random", "x"), ("02", "@random", "@random", "y"))
    previous = {g.index: (g.project, g.generated) for g in first.groups}
    again = expand(
        oscourse_files,
        HEADER,
        ("01", "@random", "@random", "x"),
        ("02", "@random", "@random", "y"),
        ("03", "@random", "@random", "z"),
        previous=previous,
    )
    assert [g.generated for g in again.groups[:2]] == [g.generated for g in first.groups]
    assert [g.tree for g in again.groups[:2]] == [g.tree for g in first.groups]
    assert set(again.groups[2].generated) == {"userpasswd", "rpasswd"}


def test_a_password_stays_with_its_project_when_rows_move():
    files = {"m.mln": "global { project lab$[g] }\nhost h { root_passwd $pw }\n"}
    first = expand_course(
        "c", "m.mln", files, read_table("t.csv", table_bytes(("g", "pw"), ("a", "@random"), ("b", "@random")))
    )
    previous = {g.index: (g.project, g.generated) for g in first.groups}
    # Row "a" is removed: "b" moves up to row 2 and keeps its own password, not a's.
    again = expand_course(
        "c", "m.mln", files, read_table("t.csv", table_bytes(("g", "pw"), ("b", "@random"), ("n", "@random"))), previous
    )
    assert again.groups[0].project == "labb"
    assert again.groups[0].generated == first.groups[1].generated
    assert again.groups[1].generated["pw"] not in {g.generated["pw"] for g in first.groups}


def test_a_cell_written_over_random_replaces_the_kept_password(oscourse_files):
    first = expand(oscourse_files, HEADER, ("01", "@random", "@random", "@random"))
    previous = {1: (first.groups[0].project, first.groups[0].generated)}
    again = expand(oscourse_files, HEADER, ("01", "chosen", "@random", "@random"), previous=previous)
    assert again.groups[0].variables["userpasswd"] == "chosen"
    assert again.groups[0].generated == {k: v for k, v in first.groups[0].generated.items() if k != "userpasswd"}


def test_an_undefined_variable_names_the_missing_column_and_the_groups(oscourse_files):
    problems = problems_of(oscourse_files, ("gnum", "userpasswd", "rpasswd"), ("01", "u", "r"), ("02", "u", "r"))
    assert problems == [
        "oscourse.mln:35:15: error: undefined variable $vncpasswd: the table has no column 'vncpasswd'"
        " (every group, rows 2 to 3 of groups.csv)"
    ]


def test_an_empty_cell_is_reported_at_its_row_and_column(oscourse_files):
    problems = problems_of(oscourse_files, HEADER, ("01", "u", "r", "v"), ("02", "u", "", "v"))
    assert problems == [
        "groups.csv:3:3: error: group 2: the cell of column 'rpasswd' is empty, and oscourse.mln:14:17 uses $rpasswd"
    ]


def test_a_mistake_in_the_master_is_reported_once_at_its_file_line_and_column():
    files = {"oscourse.mln": OSCOURSE.replace("switch lan { }", "switch lan { }\n}")}
    problems = problems_of(files, HEADER, ("01", "u", "r", "v"), ("02", "u", "r", "v"))
    assert len(problems) == 1
    assert re.match(r"oscourse\.mln:18:1: error: .*\(every group, rows 2 to 3 of groups\.csv\)", problems[0])


def test_a_bad_value_in_a_cell_is_reported_at_its_row_and_column():
    files = {"m.mln": "global { project p$index }\nhost h { memory $mem }\n"}
    table = read_table("t.csv", table_bytes(("name", "mem"), ("a", "64M"), ("b", "lots"), ("c", "1G")))
    with pytest.raises(CourseError) as caught:
        expand_course("c", "m.mln", files, table)
    [problem] = caught.value.problems
    assert (problem.line, problem.group) == (2, 2)
    assert problem.file == "m.mln" and "lots" in problem.message and "group 2" in problem.message


def test_every_problem_of_every_row_is_reported_at_once(oscourse_files):
    problems = problems_of(oscourse_files, HEADER, ("01", "", "r", "v"), ("02", "u", "r", "v"), ("03", "u", "r", ""))
    assert problems == [
        "groups.csv:2:2: error: group 1: the cell of column 'userpasswd' is empty,"
        " and oscourse.mln:12:23 uses $userpasswd",
        "groups.csv:4:4: error: group 3: the cell of column 'vncpasswd' is empty,"
        " and oscourse.mln:35:15 uses $vncpasswd",
    ]


def test_two_groups_with_one_project_name_are_reported_at_the_second_row():
    files = {"oscourse.mln": OSCOURSE + "\nglobal { project os$[gnum] }\n"}
    problems = problems_of(files, HEADER, ("01", "u", "r", "v"), ("02", "u", "r", "v"), ("01", "u", "r", "v"))
    assert problems == [
        "groups.csv:4:1: error: group 3: project os01 is also the project of group 1 (row 2):"
        " names must be unique in the course"
    ]


def test_a_project_name_that_cannot_be_a_file_name_is_reported():
    files = {"m.mln": "global { project $name }\nhost h { memory 64M }\n"}
    table = read_table("t.csv", table_bytes(("name",), ("ok",), ("a/b",)))
    with pytest.raises(CourseError) as caught:
        expand_course("c", "m.mln", files, table)
    assert [str(p) for p in caught.value.problems] == [
        "m.mln:1:18: error: project name 'a/b' is not usable: letters, digits, '_' and '-', starting with a letter "
        "or digit, at most 100 (group 2, row 3 of t.csv)"
    ]


def test_a_project_name_with_a_dot_is_refused_as_pool_names_assume_none():
    files = {"m.mln": "global { project $name }\nhost h { memory 64M }\n"}
    table = read_table("t.csv", table_bytes(("name",), ("a.b",)))
    with pytest.raises(CourseError) as caught:
        expand_course("c", "m.mln", files, table)
    [problem] = caught.value.problems
    assert "project name 'a.b' is not usable" in problem.message


def test_a_master_with_a_global_block_but_no_project_is_told_to_name_it():
    files = {"m.mln": "global { nameserver 10.0.0.1 }\nhost h { memory 64M }\n"}
    with pytest.raises(CourseError) as caught:
        expand_course("c", "m.mln", files, read_table("t.csv", table_bytes(("x",), ("a",), ("b",))))
    [problem] = caught.value.problems
    assert "project" in problem.message and "every group" in problem.message


def test_a_master_default_for_a_table_variable_is_reported_where_the_master_defines_it(oscourse_files):
    files = {"oscourse.mln": "$rpasswd = default\n" + OSCOURSE}
    problems = problems_of(files, HEADER, ("01", "u", "r", "v"))
    assert problems == [
        "oscourse.mln:1:1: error: $rpasswd is defined here and is a column of groups.csv:"
        " define it in one place only (group 1, row 2 of groups.csv)"
    ]


def test_the_master_can_define_a_variable_whose_cell_is_left_empty():
    files = {"m.mln": "$mem = 64M\nglobal { project p$index }\nhost h { memory $mem }\n"}
    expansion = expand_course("c", "m.mln", files, read_table("t.csv", table_bytes(("x",), ("a",))))
    assert expansion.groups[0].tree["hosts"]["h"]["memory"] == "64M"


def test_a_cell_is_literal_text_even_with_dollars_quotes_and_blanks():
    files = {"m.mln": "global { project p$index }\nhost h { motd $text }\n"}
    cells = ["a $b $$c", 'say "hi" #1 {;}', "back\\slash"]
    csv_text = "text\n" + "".join('"' + c.replace('"', '""') + '"\n' for c in cells)
    table = read_table("t.csv", csv_text.encode())
    expansion = expand_course("c", "m.mln", files, table)
    assert [g.tree["hosts"]["h"]["motd"] for g in expansion.groups] == cells


def test_includes_come_only_from_the_courses_own_files(oscourse_files):
    files = {"m.mln": "#include /etc/passwd\nglobal { project p$index }\n"}
    with pytest.raises(CourseError) as caught:
        expand_course("c", "m.mln", files, read_table("t.csv", table_bytes(("x",), ("a",))))
    assert "not found among the course's files" in str(caught.value)
    assert loads("#include b.mln\n", filename="a.mln", sources=MemorySources({"b.mln": "host h { }"}))["hosts"] == {
        "h": {}
    }
