"""The bounds of what one input may make the language (and a course) do.

A course file comes from a user the site does not fully trust: a few hundred
bytes of variables that double each other, or includes that fan out, would
otherwise ask for gigabytes. Every stage counts what it makes against these
limits while it makes it, so memory is bounded by construction, and refuses
with the limit's mln.conf key and the place that crossed it.

The defaults are those of mln.conf (daemon/conf.py); the courses layer builds
a Limits from the administrator's mln.conf (`projects.courses.limits_from_conf`).
The language itself never reads mln.conf.
"""

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_upload: int = 1 * MiB  # bytes of one .mln file (master or include)
    max_table_upload: int = 4 * MiB  # bytes of a variable table as uploaded
    max_table_rows: int = 1000  # groups of one course
    max_table_columns: int = 100  # variables of one table
    max_value_length: int = 4096  # characters of one variable's value (or one word), after expansion
    max_expansion: int = 4 * MiB  # characters made by substituting variables in one project
    max_statements: int = 50000  # statements of one project after #include splicing
    max_hosts: int = 1000  # hosts of one project
    max_course_hosts: int = 5000  # hosts of all groups of one course
    parse_cache_bytes: int = 64 * MiB  # what the per-process parse cache may hold

    @property
    def max_table_inflated(self):
        # An XLSX is zipped XML: its parts inflate to about four times the
        # CSV of the same table, so a table that is within max_table_upload as
        # CSV is within this; a zip bomb is refused before anything inflates.
        return 4 * self.max_table_upload


def shown_size(size):
    """Bytes as an administrator writes them in mln.conf: 4 MiB, 512 KiB, 300 B."""
    for unit, factor in (("GiB", 1024 * MiB), ("MiB", MiB), ("KiB", 1024)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if value == int(value) or value >= 10 else f"{value:.1f} {unit}"
    return f"{size} B"
