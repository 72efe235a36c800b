"""An upload names only registered templates; the upload pages list them."""

import pytest
from django.urls import reverse

from projects.models import Course
from templates_registry.models import Template
from tests import factories

from .conftest import OSCOURSE
from .test_course_pages import (
    conf_allowing_the_courses_display,  # noqa: F401 (autouse fixture)
    new_course,
    update_course,
)

pytestmark = pytest.mark.django_db

TABLE = factories.table_bytes(factories.OSCOURSE_HEADER, ("01", "u", "r", "v"), ("02", "u", "r", "v"))


def test_an_unknown_template_is_refused_at_upload_with_its_place(client, instructor):
    master = OSCOURSE.replace("template winXP.template", "template winME.template")
    response = new_course(client, master=master, table=TABLE)
    page = response.content.decode()
    line = master[: master.index("template winME")].count("\n") + 1
    assert f"oscourse.mln:{line}:5</code> template &#x27;winME.template&#x27; is not registered" in page
    assert "templates you may use: os_linux_1.ext3, tiny, winXP.template" in page
    assert "every group, rows 2 to 3 of groups.csv" in page
    assert not Course.objects.exists()


def test_a_host_without_template_needs_the_default_template_registered(client, instructor):
    master = OSCOURSE.replace("    template os_linux_1.ext3\n", "")
    assert new_course(client, master=master, table=TABLE).status_code == 302  # tiny, the default, is registered
    Template.objects.filter(name="tiny").delete()
    page = new_course(client, master=master, table=TABLE, short_name="os2").content.decode()
    assert "host ubuntu names no template and default_template &#x27;tiny&#x27; of mln.conf is not registered" in page
    assert not Course.objects.filter(short_name="os2").exists()


def test_an_update_to_an_unknown_template_is_refused_and_changes_nothing(client, instructor):
    new_course(client, table=TABLE)
    master = OSCOURSE.replace("template os_linux_1.ext3", "template nosuch")
    page = update_course(client, master=("oscourse.mln", master.encode())).content.decode()
    assert "template &#x27;nosuch&#x27; is not registered" in page
    course = Course.objects.get()
    assert not course.drafts.exists() and "nosuch" not in course.files.get().content


def test_the_upload_pages_list_the_templates_instructors_may_use(client, instructor):
    Template.objects.filter(name="tiny").update(description="a small Linux")
    page = client.get(reverse("course_new")).content.decode()
    assert "Templates you may use" in page
    assert '<code>tiny</code> <span class="muted">a small Linux</span>' in page
    assert "<code>winXP.template</code>" in page
    new_course(client, table=TABLE)
    assert "<code>os_linux_1.ext3</code>" in client.get(reverse("course_update", args=["os"])).content.decode()


def test_with_no_template_registered_the_page_says_so(client, instructor):
    Template.objects.all().delete()
    assert "No template is registered yet" in client.get(reverse("course_new")).content.decode()
