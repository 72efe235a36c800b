"""Fixtures of the course tests.

files/ holds the article's Listings 4 (os03.mln) and 5 (oscourse.mln) and
the 60-group table of the shared examples, copied so a clean clone tests
the same files.
"""

from pathlib import Path

import pytest

FILES = Path(__file__).resolve().parent / "files"
OSCOURSE = (FILES / "oscourse.mln").read_text()
OSCOURSE_TABLE = (FILES / "oscourse-groups.csv").read_bytes()


@pytest.fixture
def oscourse_files():
    return {"oscourse.mln": OSCOURSE}


def table_bytes(*rows, sep=","):
    return "".join(sep.join(row) + "\n" for row in rows).encode()
