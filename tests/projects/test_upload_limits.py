"""Bounded uploads (issue 9, High #3): tables, courses and the web upload, with mln.conf's limits.

Every attack of the security review is refused with the limit's mln.conf key
and a place (file:line:col, or row:col of the table), quickly and in little
memory; and an expansion that would still run away is stopped by the child
process that the site expands in (expand_memory, expand_timeout), never by
the web server growing.
"""

import io
import os
import resource
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from daemon.conf import MlnConf
from projects.courses import expand_course, limits_from_conf
from projects.lang import Limits
from projects.lang.limits import MiB
from projects.models import Course, Project
from projects.variable_table import CourseError, read_table

from .conftest import OSCOURSE, OSCOURSE_TABLE, table_bytes

MLN = str(Path(sys.executable).parent / "mln")


def problems(name, data, limits=Limits()):
    with pytest.raises(CourseError) as caught:
        read_table(name, data, limits)
    return [str(p) for p in caught.value.problems]


def course_problems(files, table, limits=Limits()):
    with pytest.raises(CourseError) as caught:
        expand_course("c", "m.mln", files, table, limits=limits)
    return [str(p) for p in caught.value.problems]


# An XLSX written part by part, so a test can make what no spreadsheet program writes:
# a sheet with or without <dimension>, and a sheet that inflates a thousandfold.
PARTS = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.'
    'xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
    'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
    'worksheet+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
    '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
    'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}


def handmade_xlsx(header, row, count, dimension=None):
    """`count` copies of `row` (cells as inline strings) under `header`."""

    def cells(values):
        return "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in values)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in PARTS.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
            if dimension:
                sheet.write(f'<dimension ref="{dimension}"/>'.encode())
            sheet.write(f"<sheetData><row>{cells(header)}</row>".encode())
            line = f"<row>{cells(row)}</row>".encode()
            for start in range(0, count, 10000):
                sheet.write(line * min(10000, count - start))
            sheet.write(b"</sheetData></worksheet>")
    return buffer.getvalue()


# --- tables ---------------------------------------------------------------------------------


def test_a_table_beyond_max_table_upload_is_refused_by_its_size():
    data = b"name\n" + b"x\n" * (2 * MiB)
    assert problems("t.csv", data) == [
        "t.csv:1:1: error: the table is 4.0 MiB: at most 4 MiB (max_table_upload in mln.conf)"
    ]


def test_an_xlsx_bomb_is_refused_from_its_zip_directory_before_inflating():
    data = handmade_xlsx(["name"], ["x" * 100], 2_000_000)  # about 1 MB that inflates to 250 MB
    assert len(data) < 2 * MiB
    tracemalloc.start()
    started = time.monotonic()
    found = problems("bomb.xlsx", data)
    seconds, peak = time.monotonic() - started, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(found) == 1 and found[0].startswith("bomb.xlsx:1:1: error: the workbook inflates to ")
    assert "xl/worksheets/sheet1.xml" in found[0] and "max_table_upload" in found[0]
    assert seconds < 1 and peak < 4 * MiB  # before: 1.7 GB and 3 minutes


def test_an_xlsx_whose_used_range_is_beyond_max_table_rows_is_refused_before_its_rows_are_read():
    workbook = openpyxl.Workbook()
    workbook.active.append(["name"])
    workbook.active.cell(row=100_001, column=1, value="far")
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert problems("t.xlsx", buffer.getvalue()) == [
        "t.xlsx:1002:1: error: the sheet's used range is 100001 rows: at most 1000 groups and the header "
        "(max_table_rows in mln.conf); delete the rows below the table"
    ]


def test_an_xlsx_wider_than_max_table_columns_is_refused_by_its_used_range():
    workbook = openpyxl.Workbook()
    workbook.active.append([f"v{n}" for n in range(150)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    [found] = problems("t.xlsx", buffer.getvalue())
    assert found.startswith("t.xlsx:1:101: error: the sheet's used range is 150 columns: at most 100")


def test_an_xlsx_without_a_dimension_is_counted_as_it_is_read():
    assert problems("t.xlsx", handmade_xlsx(["name"], ["g"], 5000)) == [
        "t.xlsx:1002:1: error: the table has more than 1000 groups (max_table_rows in mln.conf)"
    ]
    wide = handmade_xlsx([f"v{n}" for n in range(150)], ["g"], 1)
    assert problems("t.xlsx", wide) == [
        "t.xlsx:1:101: error: the table has more than 100 columns (max_table_columns in mln.conf)"
    ]


def test_a_csv_of_100000_rows_is_refused_at_the_first_row_beyond_max_table_rows():
    started = time.monotonic()
    data = b"name\n" + b"".join(b"g%d\n" % n for n in range(100_000))
    assert problems("t.csv", data) == [
        "t.csv:1002:1: error: the table has more than 1000 groups (max_table_rows in mln.conf)"
    ]
    assert time.monotonic() - started < 2  # before: accepted, then 3 minutes of expansion


def test_blank_rows_do_not_count_as_groups():
    data = b"name\n" + b"\n" * 5000 + b"g\n"
    assert read_table("t.csv", data).lines == [5002]


def test_a_csv_wider_than_max_table_columns_is_refused_at_the_column_beyond():
    data = (",".join(f"v{n}" for n in range(120)) + "\n").encode()
    assert problems("t.csv", data) == [
        "t.csv:1:101: error: the table has more than 100 columns (max_table_columns in mln.conf)"
    ]


def test_a_cell_longer_than_max_value_length_is_refused_at_its_row_and_column():
    data = table_bytes(("a", "b"), ("1", "2"), ("3", "x" * 5000))
    assert problems("t.csv", data) == [
        "t.csv:3:2: error: this cell has 5000 characters: at most 4096 (max_value_length in mln.conf)"
    ]


def test_limits_come_from_mln_conf_with_the_same_names_and_defaults():
    assert limits_from_conf(MlnConf(path="x")) == Limits()
    conf = MlnConf(path="x", max_table_rows=5, max_value_length=7)
    assert limits_from_conf(conf) == Limits(max_table_rows=5, max_value_length=7)


# --- courses --------------------------------------------------------------------------------


def test_the_sixty_group_course_of_the_shared_examples_fits_the_default_limits():
    expansion = expand_course(
        "os", "oscourse.mln", {"oscourse.mln": OSCOURSE}, read_table("groups.csv", OSCOURSE_TABLE)
    )
    assert len(expansion.groups) == 60


def test_a_course_beyond_max_course_hosts_is_refused_at_the_row_that_crosses_it():
    master = "global {\n  project $course-$index\n  autoenum { superclass s; numhosts 200 }\n}\nsuperclass s { }\n"
    table = read_table("t.csv", table_bytes(("x",), *[(str(n),) for n in range(30)]))
    found = course_problems({"m.mln": master}, table)
    # 25 groups of 200 hosts are 5000; group 26 (row 27) makes 5200.
    assert found == [
        "t.csv:27:1: error: group 26: the course has more than 5000 hosts with this group "
        "(max_course_hosts in mln.conf)"
    ]


def test_a_master_beyond_max_upload_is_refused_by_name():
    files = {"m.mln": "host h { }\n", "big.mln": "# " + "x" * (MiB + 1) + "\n"}
    found = course_problems(files, read_table("t.csv", table_bytes(("x",), ("1",))))
    assert found == [
        "big.mln:1:1: error: big.mln is 1.0 MiB: a .mln file may have at most 1 MiB (max_upload in mln.conf)"
    ]


def test_a_control_character_in_a_table_cell_is_refused_at_its_row_and_column():
    files = {"m.mln": "host h { description $motd }\n"}
    found = course_problems(files, read_table("t.csv", table_bytes(("gnum", "motd"), ("1", "hi"), ("2", "a\x1bb"))))
    assert len(found) == 1 and found[0].startswith("t.csv:3:2: error: group 2: column 'motd': control character U+001B")


# --- the command line -------------------------------------------------------------------------------


def test_mln_check_refuses_a_big_file_with_the_limit_of_mln_conf(tmp_path):
    conf = tmp_path / "mln.conf"
    conf.write_text("max_upload 1K\n")
    path = tmp_path / "big.mln"
    path.write_text("global { project big }\n# " + "x" * 2000 + "\n")
    result = subprocess.run(
        [MLN, "check", "-f", path], capture_output=True, text=True, env={**os.environ, "MLN_CONF": str(conf)}
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"{path}:1:1: error: file '{path}' is 2.0 KiB: a .mln file may have at most 1 KiB (max_upload in mln.conf)\n"
    )


def test_mln_course_expand_uses_the_table_limits_of_mln_conf(tmp_path):
    conf = tmp_path / "mln.conf"
    conf.write_text("max_table_rows 2\n")
    (tmp_path / "m.mln").write_text("host h { }\n")
    (tmp_path / "t.csv").write_text("x\n1\n2\n3\n")
    result = subprocess.run(
        [MLN, "course", "expand", "-m", tmp_path / "m.mln", "-t", tmp_path / "t.csv"],
        capture_output=True,
        text=True,
        env={**os.environ, "MLN_CONF": str(conf)},
    )
    assert result.returncode == 1
    assert result.stderr.endswith("t.csv:4:1: error: the table has more than 2 groups (max_table_rows in mln.conf)\n")


# --- the web upload ---------------------------------------------------------------------------------


@pytest.fixture
def site_conf(tmp_path, monkeypatch):
    """Write the site's mln.conf (the article's course pins display 300, which it allows)."""

    def write(text=""):
        path = tmp_path / "mln.conf"
        path.write_text("vncdisplay_range 300-399\n" + text)
        monkeypatch.setenv("MLN_CONF", str(path))
        return path

    write()
    return write


def new_course(client, master=OSCOURSE, table=OSCOURSE_TABLE, short_name="os"):
    return client.post(
        reverse("course_new"),
        {
            "name": "Operating systems",
            "short_name": short_name,
            "master": SimpleUploadedFile("oscourse.mln", master.encode()),
            "table": SimpleUploadedFile("groups.csv", table),
        },
    )


def page_text(response):
    return response.content.decode()


@pytest.mark.django_db
def test_a_master_beyond_max_upload_is_refused_by_the_form_before_it_is_read(client, instructor, site_conf):
    response = new_course(client, master=OSCOURSE + "#" * MiB)
    assert "oscourse.mln is 1.0 MiB: a .mln file may have at most 1 MiB (max_upload in mln.conf)" in page_text(response)
    assert not Course.objects.exists()


@pytest.mark.django_db
def test_a_table_beyond_max_table_upload_is_refused_by_the_form(client, instructor, site_conf):
    site_conf("max_table_upload 1K\n")
    response = new_course(client)
    message = "groups.csv is 1.7 KiB: the table may have at most 1 KiB (max_table_upload in mln.conf)"
    assert message in page_text(response)
    assert not Course.objects.exists()


def doubling(levels):
    lines = ["$v0 = abcdefghijklmnop"] + [f"$v{i} = $v{i - 1}$v{i - 1}" for i in range(1, levels + 1)]
    return "\n".join(lines) + f"\nhost h {{ description $v{levels} }}\n"


@pytest.mark.django_db
def test_doubling_variables_are_refused_at_upload_with_their_place(client, instructor, site_conf):
    response = new_course(client, master=doubling(26), table=b"x\n1\n")
    assert "oscourse.mln:10:7</code> this word is longer than 4096 characters" in page_text(response)
    assert not Course.objects.exists()


@pytest.mark.django_db
def test_an_expansion_beyond_expand_memory_stops_in_its_child_not_in_the_web_server(client, instructor, site_conf):
    # Limits an administrator set far too high: the child's address space is the last bound.
    site_conf("max_value_length 1000000000000\nmax_expansion 1000T\nexpand_memory 400M\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    response = new_course(client, master=doubling(30), table=b"x\n1\n")  # 16 GiB of text
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert (
        "oscourse.mln:1:1</code> expanding the course needed more than 400 MiB of memory "
        "(expand_memory in mln.conf)" in page_text(response)
    )
    assert grown < 50 * 1024  # KiB: the web process's peak did not move
    assert "Traceback" not in page_text(response) and not Course.objects.exists()


@pytest.mark.django_db
def test_an_expansion_beyond_expand_timeout_is_stopped(client, instructor, site_conf):
    site_conf("max_statements 1000000000\nexpand_timeout 2\n")
    fan = "#include m.mln\n" * 10
    started = time.monotonic()
    response = client.post(
        reverse("course_new"),
        {
            "name": "Fan",
            "short_name": "fan",
            "master": SimpleUploadedFile("m.mln", fan.replace("m.mln", "a.mln").encode()),
            "extra_files": [
                SimpleUploadedFile(f"{c}.mln", fan.replace("m.mln", f"{chr(ord(c) + 1)}.mln").encode())
                for c in "abcdefg"
            ]
            + [SimpleUploadedFile("h.mln", b"superclass s { memory 1M }\n")],
            "table": SimpleUploadedFile("t.csv", b"x\n1\n"),
        },
    )
    assert "expanding the course took longer than 2 s (expand_timeout in mln.conf)" in page_text(response)
    assert time.monotonic() - started < 15
    assert not Course.objects.exists()


@pytest.mark.django_db
def test_a_host_beyond_max_memory_is_refused_at_upload(client, instructor, site_conf):
    response = new_course(client, master="host h {\n  memory 999999G\n}\n", table=b"x\n1\n")
    assert "oscourse.mln:1:1</code> host h: memory" in page_text(response)
    assert "max_memory" in page_text(response)
    assert not Project.objects.exists()
