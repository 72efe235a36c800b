"""Variable tables as instructors save them: CSV of either separator, with or without a BOM, or XLSX."""

import io

import openpyxl
import pytest

from projects.variable_table import CourseError, read_table

from .conftest import OSCOURSE_TABLE


def xlsx(*rows):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(list(row))
    workbook.create_sheet("ignored").append(["not", "read"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def problems(name, data):
    with pytest.raises(CourseError) as caught:
        read_table(name, data)
    return [str(p) for p in caught.value.problems]


def test_the_shared_table_has_sixty_groups_of_four_variables():
    table = read_table("oscourse-groups.csv", OSCOURSE_TABLE)
    assert table.columns == ["gnum", "userpasswd", "rpasswd", "vncpasswd"]
    assert len(table.rows) == 60 and table.rows[59][0] == "60"
    assert table.lines[:2] == [2, 3]


def test_a_table_with_a_byte_order_mark_and_semicolons_is_read():
    data = '\ufeffgnum;motd;pw\r\n01;"a;b, c";@random\r\n02; spaced ;x\r\n'.encode()
    table = read_table("groups.csv", data)
    assert table.columns == ["gnum", "motd", "pw"]
    assert table.rows == [["01", "a;b, c", "@random"], ["02", "spaced", "x"]]


def test_an_xlsx_table_is_read_from_its_first_sheet_as_text():
    data = xlsx(["gnum", "memory", "pw"], ["01", 128, "@random"], [None, None, None], ["02", 2.0, "x"])
    table = read_table("groups.xlsx", data)
    assert table.columns == ["gnum", "memory", "pw"]
    assert table.rows == [["01", "128", "@random"], ["02", "2", "x"]]
    assert table.lines == [2, 4]  # the blank row is skipped, positions stay those of the sheet


def test_blank_lines_and_empty_columns_at_the_right_are_ignored():
    table = read_table("t.csv", b"a,b,,\n1,2,,\n\n3,4,,\n,,,\n")
    assert table.columns == ["a", "b"] and table.rows == [["1", "2"], ["3", "4"]]


def test_a_short_row_leaves_its_last_cells_empty():
    assert read_table("t.csv", b"a,b,c\n1\n").rows == [["1", "", ""]]


def test_header_problems_name_their_row_and_column():
    assert problems("t.csv", b"gnum,gnum,index,bad name\n1,2,3,4\n") == [
        "t.csv:1:2: error: column header 'gnum' is given twice (first in column 1)",
        "t.csv:1:3: error: column header 'index' is a built-in variable: every group has $index already",
        "t.csv:1:4: error: column header 'bad name' is not a variable name (letters, digits and _)",
    ]


def test_values_without_a_column_name_are_reported_where_they_stand():
    assert problems("t.xlsx", xlsx(["a", None, "b"], [1, None, 2], [3, 4, 5])) == [
        "t.xlsx:3:2: error: column 2 has values but no variable name in the header"
    ]


def test_an_empty_table_and_a_header_without_rows_are_reported():
    assert problems("t.csv", b"\n\n") == [
        "t.csv:1:1: error: the table is empty: it needs a header row naming the variables"
    ]
    assert problems("t.csv", b"a,b\n") == [
        "t.csv:1:1: error: the table has a header but no groups: add one row per group"
    ]


def test_a_table_that_is_not_utf8_is_reported_at_the_first_bad_byte():
    assert problems("t.csv", "a,b\n1,caf\u00e9\n".encode("latin-1")) == [
        "t.csv:2:6: error: the table is not UTF-8 text (save it as CSV UTF-8)"
    ]


def test_a_file_that_is_not_a_workbook_is_reported():
    [problem] = problems("t.xlsx", b"PK\x03\x04 broken")
    assert problem.startswith("t.xlsx:1:1: error: not a readable XLSX workbook")
