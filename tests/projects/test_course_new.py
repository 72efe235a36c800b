"""A new course is previewed, then created: nothing is stored before, and no upload is lost on an error."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects.models import Course, CourseDraft, Group, Host, Project
from tests import factories

from .conftest import OSCOURSE, OSCOURSE_TABLE
from .test_course_pages import conf_allowing_the_courses_display  # noqa: F401 (autouse fixture)

pytestmark = pytest.mark.django_db

BROKEN = OSCOURSE.replace("memory 128M", "memory lots")


def post(client, draft=None, short_name="os", master=OSCOURSE, table=OSCOURSE_TABLE):
    data = {"name": "Operating systems", "short_name": short_name}
    if master is not None:
        data["master"] = SimpleUploadedFile("oscourse.mln", master.encode())
    if table is not None:
        data["table"] = SimpleUploadedFile("groups.csv", table)
    if draft is not None:
        data["draft"] = str(draft)
    return client.post(reverse("course_new"), data)


def nothing_stored():
    return not (Course.objects.exists() or Group.objects.exists() or Project.objects.exists() or Host.objects.exists())


def draft_of(response):
    assert response.status_code == 302, response.content.decode()[:3000]
    return CourseDraft.objects.get(pk=int(re.fullmatch(r"/courses/new/(\d+)/", response["Location"])[1]))


def test_an_upload_is_previewed_group_by_group_and_stored_only_once_created(client, instructor):
    draft = draft_of(post(client))
    assert nothing_stored() and draft.course is None and (draft.name, draft.short_name) == ("Operating systems", "os")
    page = client.get(reverse("course_new_draft", args=[draft.pk])).content.decode()
    assert page.count('<tr class="added">') == 60 and "<td>os-07</td>" in page and "winXP.template" in page
    assert "Create the course (60 groups)" in page and nothing_stored()
    response = client.post(reverse("course_new_create", args=[draft.pk]))
    course = Course.objects.get()
    assert response.status_code == 302 and response["Location"] == course.get_absolute_url()
    assert (course.owner, course.name, course.short_name) == (instructor, "Operating systems", "os")
    assert course.groups.count() == 60 and Host.objects.count() == 120
    assert not CourseDraft.objects.exists()


def test_an_upload_with_errors_keeps_its_files_and_the_next_try_sends_only_the_fix(client, instructor):
    response = post(client, master=BROKEN)
    page = response.content.decode()
    assert response.status_code == 200 and "problem" in page and nothing_stored()
    kept = CourseDraft.objects.get(course=None, created_by=instructor)
    assert kept.table_name == "groups.csv" and bytes(kept.table) == OSCOURSE_TABLE
    assert f'name="draft" value="{kept.pk}"' in page and "Kept from your last upload" in page
    for name in ("master", "table"):  # the browser must let the next try send only the fix
        assert re.search(rf'<input type="file" name="{name}"[^>]*>', page)[0].count("required") == 0
    assert '<input type="text" name="short_name" value="os"' in page
    draft = draft_of(post(client, draft=kept.pk, table=None))  # the table is not sent again
    assert bytes(draft.table) == OSCOURSE_TABLE and draft.files["oscourse.mln"] == OSCOURSE
    assert CourseDraft.objects.count() == 1 and nothing_stored()


def test_a_taken_short_name_keeps_the_files_too(client, instructor):
    factories.make_course(instructor, short_name="os")
    response = post(client)
    assert "a course with this short name exists already" in response.content.decode()
    kept = CourseDraft.objects.get(course=None)
    draft = draft_of(post(client, draft=kept.pk, short_name="os2", master=None, table=None))
    assert draft.short_name == "os2" and draft.files == {"oscourse.mln": OSCOURSE}
    client.post(reverse("course_new_create", args=[draft.pk]))
    assert Course.objects.get(short_name="os2").groups.count() == 60


def test_a_short_name_taken_after_the_preview_is_refused_and_stores_nothing(client, instructor):
    draft = draft_of(post(client))
    factories.make_course(factories.instructor("grace"), short_name="os")
    response = client.post(reverse("course_new_create", args=[draft.pk]), follow=True)
    assert "exists already: nothing was stored" in response.content.decode()
    assert Course.objects.get().owner.username == "grace" and CourseDraft.objects.filter(pk=draft.pk).exists()


def test_discard_removes_the_draft_and_stores_nothing(client, instructor):
    draft = draft_of(post(client))
    assert client.post(reverse("course_new_discard", args=[draft.pk])).status_code == 302
    assert not CourseDraft.objects.exists() and nothing_stored()


def test_another_instructors_draft_is_not_found_nor_used(client, instructor):
    draft = draft_of(post(client))
    client.force_login(factories.instructor("grace"))
    for name in ("course_new_draft", "course_new_create", "course_new_discard"):
        method = client.get if name == "course_new_draft" else client.post
        assert method(reverse(name, args=[draft.pk])).status_code == 404
    response = post(client, draft=draft.pk, master=None, table=None)  # her files are not his to reuse
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert CourseDraft.objects.filter(pk=draft.pk, created_by=instructor).exists() and nothing_stored()


def test_a_bad_draft_number_is_ignored(client, instructor):
    response = post(client, draft="9" * 40, master=None)
    assert response.status_code == 200 and "This field is required" in response.content.decode()


def test_a_failed_upload_shows_one_error_box(client, instructor):
    page = post(client, master=BROKEN).content.decode()
    assert page.count('class="problems"') == 1 and "nothing was stored" in page
    assert 'class="errorlist nonfield"' not in page  # the same problems again, as a form error
