"""A staff instructor who does not own a course, on every page and websocket of the site (issue 9, High #2).

Staff is for the admin pages; seeing every course is for superusers and the `projects.view_all_courses`
permission. The tables below name every URL pattern of projects/urls.py and every consumer of
projects/routing.py, and a test checks that they do: a new page or websocket needs a line here.
"""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from projects import routing
from projects import urls as project_urls
from projects.models import Build, Course, CourseDraft, Group
from tests.factories import make_user

from .conftest import asession, asynchronous, close_code, communicator

# URL name -> (method, args from the world): what a staff instructor who is not the owner gets.
NOT_FOUND = {
    "course": ("get", lambda w: [w.course.short_name]),
    "course_states": ("get", lambda w: [w.course.short_name]),
    "course_action": ("post", lambda w: [w.course.short_name, "stop"]),
    "course_update": ("get", lambda w: [w.course.short_name]),
    "course_draft": ("get", lambda w: [w.course.short_name, w.draft.pk]),
    "course_draft_apply": ("post", lambda w: [w.course.short_name, w.draft.pk]),
    "course_draft_upgrade": ("post", lambda w: [w.course.short_name, w.draft.pk]),
    "course_draft_discard": ("post", lambda w: [w.course.short_name, w.draft.pk]),
    "course_new_draft": ("get", lambda w: [w.new_draft.pk]),
    "course_new_create": ("post", lambda w: [w.new_draft.pk]),
    "course_new_discard": ("post", lambda w: [w.new_draft.pk]),
    "course_zip": ("get", lambda w: [w.course.short_name]),
    "course_credentials": ("get", lambda w: [w.course.short_name]),
    "course_delete": ("post", lambda w: [w.course.short_name]),
    "group_new_link": ("post", lambda w: [w.course.short_name, w.group1.pk]),
    "project": ("get", lambda w: [w.project1.pk]),
    "project_action": ("post", lambda w: [w.project1.pk, "stop"]),
    "host_apply_pending": ("post", lambda w: [w.project1.pk, w.host1.pk]),
    "group": ("get", lambda w: [w.group1.pk]),
    "group_bind": ("post", lambda w: [w.group1.pk]),
    "group_open": ("post", lambda w: []),  # with no token: the token is the credential, not the account
    "group_link": ("get", lambda w: ["not-the-token"]),
    "console": ("get", lambda w: [w.host1.pk]),
    "project_states": ("get", lambda w: [w.project1.pk]),
    "host_action": ("post", lambda w: [w.host1.pk, "stop"]),
}
# Pages that are the staff instructor's own, or nobody's.
OWN = {"home", "login", "logout", "courses", "course_new"}
WEBSOCKETS = {
    "^ws/progress/(?P<kind>course|project)/(?P<pk>[0-9]+)/$": lambda w: [
        f"/ws/progress/course/{w.course.pk}/",
        f"/ws/progress/project/{w.project1.pk}/",
    ],
    "ws/console/<int:host_id>/": lambda w: [f"/ws/console/{w.host1.pk}/"],
}


@pytest.fixture
def staff(world):
    """Stella: staff and an instructor, owning a course of her own, not Ada's."""
    world.stella = make_user("stella", instructor=True, staff=True)
    Course.objects.create(name="Databases", short_name="db", owner=world.stella, master_name="d.mln")
    world.draft = CourseDraft.objects.create(
        course=world.course, master_name="oscourse.mln", table_name="t.csv", table=b""
    )
    world.new_draft = CourseDraft.objects.create(
        created_by=world.ada, short_name="new", master_name="oscourse.mln", table_name="t.csv", table=b""
    )
    return world


def test_the_tables_name_every_page_and_every_websocket():
    names = {p.name for p in project_urls.urlpatterns}
    assert names == set(NOT_FOUND) | OWN
    assert {str(p.pattern) for p in routing.websocket_urlpatterns} == set(WEBSOCKETS)


@pytest.mark.parametrize("name", sorted(NOT_FOUND))
def test_a_staff_instructor_finds_nothing_of_a_course_they_do_not_own(client, staff, name):
    method, args = NOT_FOUND[name]
    client.force_login(staff.stella)
    token = staff.group1.token
    response = getattr(client, method)(reverse(name, args=args(staff)))
    assert response.status_code == 404, (name, response.status_code)
    assert not Build.objects.exists()
    assert Group.objects.get(pk=staff.group1.pk).token == token
    assert CourseDraft.objects.filter(pk=staff.draft.pk).exists()


def test_their_own_pages_show_only_their_own_courses(client, staff):
    client.force_login(staff.stella)
    assert client.get(reverse("home"))["Location"] == reverse("courses")
    page = client.get(reverse("courses")).content.decode()
    assert "Databases" in page and "Operating systems" not in page and "Networks" not in page
    assert client.get(reverse("course_new")).status_code == 200
    assert client.get(reverse("course", args=["db"])).status_code == 200


def test_nor_the_admin_pages_of_courses_groups_and_hosts(client, staff):
    client.force_login(staff.stella)
    assert client.get("/admin/").status_code == 200
    for model in ("course", "group", "project", "host", "build"):
        assert client.get(f"/admin/projects/{model}/").status_code == 403, model
        assert client.get(f"/admin/projects/{model}/1/change/").status_code == 403, model


@pytest.mark.django_db(transaction=True)  # the consumers close database connections (as in test_console_relay)
@asynchronous
async def test_a_staff_instructor_opens_no_websocket_of_a_course_they_do_not_own(staff):
    session = await asession(staff.stella)
    for paths in WEBSOCKETS.values():
        for path in paths(staff):
            ws = communicator(path, session)
            connected, _ = await ws.connect()
            assert connected and await close_code(ws) == 4403, path
            await ws.disconnect()


def test_superusers_and_the_view_all_courses_permission_see_every_course(client, staff):
    staff.stella.user_permissions.add(Permission.objects.get(codename="view_all_courses"))
    client.force_login(staff.stella)
    assert client.get(reverse("course", args=["os"])).status_code == 200
    assert client.get(reverse("console", args=[staff.host1.pk])).status_code == 200
    client.force_login(staff.root)  # a superuser (conftest)
    assert client.get(reverse("course_credentials", args=["os"])).status_code == 200


@pytest.mark.django_db(transaction=True)
@asynchronous
async def test_the_permission_opens_the_websockets_too(staff):
    from channels.db import database_sync_to_async

    await database_sync_to_async(
        lambda: staff.stella.user_permissions.add(Permission.objects.get(codename="view_all_courses"))
    )()
    ws = communicator(f"/ws/progress/course/{staff.course.pk}/", await asession(staff.stella))
    await ws.connect()
    assert (await ws.receive_json_from(2)) == {"type": "replayed"}
    await ws.disconnect()
