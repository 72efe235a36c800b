"""Fixtures of the course tests.

files/ holds the article's Listings 4 (os03.mln) and 5 (oscourse.mln) and
the 60-group table of the shared examples, copied so a clean clone tests
the same files.
"""

import pytest

from tests import factories
from tests.factories import FILES, OSCOURSE, table_bytes  # noqa: F401 - the course tests take them from here

OSCOURSE_TABLE = (FILES / "oscourse-groups.csv").read_bytes()


@pytest.fixture
def oscourse_files():
    return {"oscourse.mln": OSCOURSE}


@pytest.fixture
def instructor(client):
    """Ada, an instructor, logged in."""
    user = factories.instructor("ada")
    client.force_login(user)
    return user
