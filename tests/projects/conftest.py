"""Fixtures of the course tests.

files/ holds the article's Listings 4 (os03.mln) and 5 (oscourse.mln) and
the 60-group table of the shared examples, copied so a clean clone tests
the same files.
"""

import pytest

from templates_registry.models import Template
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


@pytest.fixture(autouse=True)
def article_templates(request):
    """The registry rows an upload checks hosts' templates against: the article's names and the default
    (rows only; no test here builds from them)."""
    if "django_db" not in request.keywords and "db" not in request.fixturenames:
        return
    for name in ("tiny", "os_linux_1.ext3", "winXP.template"):
        Template.objects.get_or_create(
            name=name, defaults={"image": f"/nonexistent/{name}", "format": "raw", "virtual_size": 1 << 20}
        )
