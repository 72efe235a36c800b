"""Variable tables: a course's CSV or XLSX file -> named columns and rows of text.

The header row names variables (without `$`); every further row that is not
blank is one group. Cells come back as stripped strings whatever the file
stored (an XLSX number 3 is "3", a text cell "03" stays "03"), so the
language sees exactly what the instructor typed.

Problems name the table's own row and column as a spreadsheet shows them:
the header is row 1, the first group is row 2, columns count from 1.
No Django here: `mln course expand` reads tables without a database.

A table is bounded before it is read (its size; for an XLSX, what its zip
says its parts inflate to and the sheet's <dimension>) and while it is read
(rows, columns, the length of each value), so a small upload cannot make a
huge table.
"""

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field

import openpyxl  # imported here: CSV-only runs of the command line stay fast
from openpyxl.utils.exceptions import InvalidFileException

from projects.lang.limits import Limits, shown_size

BUILT_INS = ("index", "course")
VARIABLE_NAME = re.compile(r"[A-Za-z0-9_]+\Z")
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a course's input, at a place in one of its files.

    `line` is a .mln line or a table row; `group` is the 1-based group it
    concerns, when it concerns one.
    """

    file: str
    line: int
    col: int
    message: str
    group: int | None = None

    def __str__(self):
        return f"{self.file}:{self.line}:{self.col}: error: {self.message}"


class CourseError(Exception):
    """Everything wrong with a course's input, reported at once."""

    def __init__(self, problems):
        self.problems = list(problems)[:MAX_PROBLEMS]
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class Table:
    name: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)  # each exactly as long as columns
    lines: list[int] = field(default_factory=list)  # the spreadsheet row of each group

    def position(self, index, column=None):
        """(row, col) of group `index`'s cell in `column`, for a Problem."""
        col = self.columns.index(column) + 1 if column in self.columns else 1
        return self.lines[index - 1], col


def read_table(name: str, data: bytes, limits: Limits = Limits()) -> Table:
    """Bytes of a CSV or XLSX file -> Table, or CourseError naming rows and columns."""
    if len(data) > limits.max_table_upload:
        raise CourseError(
            [
                Problem(
                    name,
                    1,
                    1,
                    f"the table is {shown_size(len(data))}: at most "
                    f"{shown_size(limits.max_table_upload)} (max_table_upload in mln.conf)",
                )
            ]
        )
    if data[:4] == b"PK\x03\x04" or name.lower().endswith(".xlsx"):
        records = _xlsx_records(name, data, limits)
    else:
        records = _csv_records(name, data)
    return _table(name, _bounded(name, records, limits))


def _bounded(name, records, limits):
    """The records, refused at the first row, column or value beyond the limits (as they are read)."""
    groups = 0
    for number, cells in records:
        if not any(cells):
            continue
        groups += 1
        if groups > limits.max_table_rows + 1:  # the header is not a group
            raise CourseError(
                [
                    Problem(
                        name,
                        number,
                        1,
                        f"the table has more than {limits.max_table_rows} groups (max_table_rows in mln.conf)",
                    )
                ]
            )
        width = len(cells)
        while width and not cells[width - 1]:
            width -= 1
        if width > limits.max_table_columns:
            raise CourseError(
                [
                    Problem(
                        name,
                        number,
                        limits.max_table_columns + 1,
                        f"the table has more than {limits.max_table_columns} columns (max_table_columns in mln.conf)",
                    )
                ]
            )
        for col, cell in enumerate(cells[:width], 1):
            if len(cell) > limits.max_value_length:
                raise CourseError(
                    [
                        Problem(
                            name,
                            number,
                            col,
                            f"this cell has {len(cell)} characters: at most "
                            f"{limits.max_value_length} (max_value_length in mln.conf)",
                        )
                    ]
                )
        yield number, cells


def _csv_records(name, data):
    try:
        text = data.decode("utf-8-sig")  # spreadsheets on Windows write a byte-order mark
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise CourseError([Problem(name, line, col, "the table is not UTF-8 text (save it as CSV UTF-8)")]) from exc
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    # reader.line_num is the physical line where the record ended: a quoted
    # cell may hold line breaks, so count records, as a spreadsheet does.
    number = 0
    try:
        for number, record in enumerate(reader, 1):
            yield number, [cell.strip() for cell in record]
    except csv.Error as exc:
        raise CourseError([Problem(name, number + 1, 1, f"unreadable CSV: {exc}")]) from exc


def _delimiter(text):
    """Comma or semicolon (a European spreadsheet's CSV), as the header row uses."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    header = re.sub(r'"[^"]*"', "", header)  # separators inside quotes do not count
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _xlsx_records(name, data, limits):
    _check_inflated(name, data, limits)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, TypeError) as exc:
        # openpyxl raises what its XML parser raises on a broken part; none of it is the user's to read.
        raise CourseError([Problem(name, 1, 1, f"not a readable XLSX workbook ({type(exc).__name__})")]) from exc
    try:
        sheet = workbook.worksheets[0]
        _check_dimension(name, sheet, limits)
        # One column past the limit: a wider row is then seen and refused, whatever
        # the dimension said, and no row is ever built wider than that.
        rows = sheet.iter_rows(max_col=limits.max_table_columns + 1, values_only=True)
        yield from ((number, [_cell_text(value) for value in values]) for number, values in enumerate(rows, 1))
    except (ValueError, TypeError, KeyError) as exc:
        raise CourseError([Problem(name, 1, 1, f"not a readable XLSX workbook ({type(exc).__name__})")]) from exc
    finally:
        workbook.close()


def _check_inflated(name, data, limits):
    """Refuse a zip bomb from the zip's own directory, before anything is inflated."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise CourseError([Problem(name, 1, 1, f"not a readable XLSX workbook ({exc})")]) from exc
    total = sum(part.file_size for part in parts)
    if total > limits.max_table_inflated:
        largest = max(parts, key=lambda part: part.file_size)
        raise CourseError(
            [
                Problem(
                    name,
                    1,
                    1,
                    f"the workbook inflates to {shown_size(total)} ({largest.filename}: "
                    f"{shown_size(largest.file_size)}): at most "
                    f"{shown_size(limits.max_table_inflated)}, four times max_table_upload "
                    "in mln.conf",
                )
            ]
        )


def _check_dimension(name, sheet, limits):
    """The sheet's <dimension> (its used range), when it has one, read before any row."""
    rows, columns = sheet.max_row, sheet.max_column
    if rows is not None and rows > limits.max_table_rows + 1:
        raise CourseError(
            [
                Problem(
                    name,
                    limits.max_table_rows + 2,
                    1,
                    f"the sheet's used range is {rows} rows: "
                    f"at most {limits.max_table_rows} groups and the header (max_table_rows in "
                    "mln.conf); delete the rows below the table",
                )
            ]
        )
    if columns is not None and columns > limits.max_table_columns:
        raise CourseError(
            [
                Problem(
                    name,
                    1,
                    limits.max_table_columns + 1,
                    f"the sheet's used range is {columns} "
                    f"columns: at most {limits.max_table_columns} (max_table_columns in mln.conf); "
                    "delete the columns right of the table",
                )
            ]
        )


def _cell_text(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a typed 3 is stored as 3.0
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).strip()


def _table(name, records):
    records = [(number, cells) for number, cells in records if any(cells)]  # reads the bounded records
    if not records:
        raise CourseError([Problem(name, 1, 1, "the table is empty: it needs a header row naming the variables")])
    (header_row, header), body = records[0], records[1:]
    width = _used_width([cells for _, cells in records])
    header = header[:width] + [""] * (width - len(header))
    problems = _header_problems(name, header_row, header, body)
    table = Table(name, [column.lstrip("$") for column in header])
    for number, cells in body:
        table.rows.append(cells[:width] + [""] * (width - len(cells)))
        table.lines.append(number)
    if not body:
        problems.append(Problem(name, header_row, 1, "the table has a header but no groups: add one row per group"))
    if problems:
        raise CourseError(problems)
    return table


def _used_width(rows):
    """Spreadsheets often carry empty columns at the right: leave them out."""
    width = max(len(cells) for cells in rows)
    while width and not any(len(cells) >= width and cells[width - 1] for cells in rows):
        width -= 1
    return width


def _header_problems(name, header_row, header, body):
    problems = []
    seen = {}
    for col, column in enumerate(header, 1):
        variable = column.lstrip("$")
        if not variable:
            rows = [number for number, cells in body if len(cells) >= col and cells[col - 1]]
            if rows:  # an empty column in the middle is harmless; values without a name are not
                problems.append(
                    Problem(name, rows[0], col, f"column {col} has values but no variable name in the header")
                )
        elif not VARIABLE_NAME.match(variable):
            problems.append(
                Problem(
                    name, header_row, col, f"column header {column!r} is not a variable name (letters, digits and _)"
                )
            )
        elif variable in BUILT_INS:
            problems.append(
                Problem(
                    name,
                    header_row,
                    col,
                    f"column header {column!r} is a built-in variable: every group has ${variable} already",
                )
            )
        elif variable in seen:
            problems.append(
                Problem(
                    name, header_row, col, f"column header {column!r} is given twice (first in column {seen[variable]})"
                )
            )
        else:
            seen[variable] = col
    return problems
