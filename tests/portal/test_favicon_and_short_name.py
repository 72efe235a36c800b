"""Small things a user sees: the site's icon, and the short name rule its help text states."""

import xml.etree.ElementTree as ET

import pytest
from django.contrib.staticfiles import finders

from projects.forms import NewCourseForm
from tests.factories import instructor

pytestmark = pytest.mark.django_db


def test_every_page_links_the_icon_and_favicon_ico_leads_to_it(client):
    page = client.get("/login/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    icon = finders.find("favicon.svg")
    assert icon and ET.parse(icon).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    answer = client.get("/favicon.ico")  # what the admin's pages and a browser on its own ask for
    assert answer.status_code == 301 and answer["Location"] == "/static/favicon.svg"


def short_name_errors(value, owner):
    form = NewCourseForm(data={"name": "Lab", "short_name": value}, owner=owner)
    form.is_valid()
    return form.errors.get("short_name", [])


def test_the_short_name_takes_what_its_help_text_says_and_nothing_else():
    owner = instructor()
    help_text = NewCourseForm.base_fields["short_name"].help_text
    assert "hyphens (-) and underscores (_)" in help_text and "at most 40" in help_text
    for good in ("os-2026", "os_2026", "Net_lab-2"):
        assert short_name_errors(good, owner) == [], good
    for bad in ("os.2026", "os 2026", "os/1", "ø", "x" * 41):
        assert short_name_errors(bad, owner), bad
