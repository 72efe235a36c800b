"""Access links: the token never travels in an address a server logs, and an instructor can replace it.

World (conftest): Ada owns course `os`; groups 1 and 2 with a host `server` each.
"""

import csv
import io

import pytest
from django.urls import reverse

from projects.models import Group

from .conftest import asession, asynchronous, close_code, communicator

PASSWORD_PAGES = ("group", "console", "project", "course_credentials", "course_zip")


class Recording:
    """The test client, remembering every address it asked for (what an access log would print)."""

    def __init__(self, client):
        self.client, self.addresses = client, []

    def __getattr__(self, method):
        def request(path, *args, **kwargs):
            response = getattr(self.client, method)(path, *args, **kwargs)
            self.addresses.append(f"{response.request['PATH_INFO']}?{response.request.get('QUERY_STRING', '')}")
            return response

        return request


def open_link(client, group):
    """What the link's page does in a browser: post the fragment's token to /g/."""
    return client.post(reverse("group_open"), {"token": group.token})


def test_the_credentials_sheet_links_carry_the_token_in_the_fragment(client, world):
    client.force_login(world.ada)
    rows = list(csv.reader(io.StringIO(client.get(reverse("course_credentials", args=["os"])).content.decode())))
    assert rows[1][2] == f"http://testserver/g/#{world.group1.token}"


def test_a_student_reaches_group_console_and_start_with_no_token_in_any_address(client, world):
    browser = Recording(client)
    page = browser.get(reverse("group_open")).content.decode()
    assert "location.hash" in page and 'name="token"' in page
    response = open_link(browser, world.group1)
    assert response.status_code == 302 and response["Location"] == f"/groups/{world.group1.pk}/"
    group_page = browser.get(response["Location"]).content.decode()
    assert world.project1.name in group_page and world.project2.name not in group_page
    assert browser.get(reverse("console", args=[world.host1.pk])).status_code == 200
    browser.post(reverse("group_bind", args=[world.group1.pk]))
    assert all(world.group1.token not in address for address in browser.addresses), browser.addresses


def test_a_link_of_the_older_form_still_opens_its_group_then_leaves_its_address(client, world):
    response = client.get(f"/g/{world.group1.token}/")
    assert response.status_code == 302 and response["Location"] == world.group1.get_absolute_url()
    assert client.get(response["Location"]).status_code == 200


def test_a_wrong_token_opens_nothing(client, world):
    response = client.post(reverse("group_open"), {"token": "nope"})
    assert response.status_code == 404 and "opens no group" in response.content.decode()
    assert client.get(world.group1.get_absolute_url()).status_code == 404


@pytest.fixture
def rotated(client, world):
    """Bob's browser opened group 1's link; then Ada gave the group a new one."""
    old = world.group1.token
    open_link(client, world.group1)
    assert client.get(world.group1.get_absolute_url()).status_code == 200
    client.force_login(world.ada)
    response = client.post(
        reverse("group_new_link", args=["os", world.group1.pk]), {"next": reverse("project", args=[world.project1.pk])}
    )
    assert response["Location"] == reverse("project", args=[world.project1.pk])
    world.group1.refresh_from_db()
    assert world.group1.token != old
    assert world.group1.token in client.get(response["Location"]).content.decode()
    client.logout()
    world.old_token = old
    return world


def test_a_new_link_replaces_the_old_one_which_opens_nothing_any_more(client, rotated):
    assert client.post(reverse("group_open"), {"token": rotated.old_token}).status_code == 404
    assert client.get(f"/g/{rotated.old_token}/").status_code == 404
    assert open_link(client, rotated.group1).status_code == 302
    assert client.get(rotated.group1.get_absolute_url()).status_code == 200


def test_a_session_opened_with_the_old_link_loses_the_group_and_its_consoles(client, rotated):
    session = client.session
    session["mln_group_tokens"] = [rotated.old_token]
    session.save()
    assert client.get(rotated.group1.get_absolute_url()).status_code == 404
    assert client.get(reverse("console", args=[rotated.host1.pk])).status_code == 404
    assert client.post(reverse("host_action", args=[rotated.host1.pk, "start"])).status_code == 404


@pytest.mark.django_db(transaction=True)  # the console consumer closes database connections
@asynchronous
async def test_the_old_link_opens_no_console_websocket(world):
    from channels.db import database_sync_to_async

    old = world.group1.token
    await database_sync_to_async(lambda: Group.objects.get(pk=world.group1.pk).rotate_token())()
    ws = communicator(f"/ws/console/{world.host1.pk}/", await asession(tokens=[old]))
    await ws.connect()
    assert await close_code(ws) == 4403
    await ws.disconnect()


def test_another_groups_link_cannot_be_replaced_from_another_course(client, world):
    client.force_login(world.grace)
    assert client.post(reverse("group_new_link", args=["os", world.group1.pk])).status_code == 404
    client.force_login(world.ada)
    other = Group.objects.create(course=world.grace.courses.get(), row=1)
    assert client.post(reverse("group_new_link", args=["os", other.pk])).status_code == 404
    assert Group.objects.get(pk=other.pk).token == other.token


@pytest.mark.parametrize("name", PASSWORD_PAGES)
def test_pages_that_show_passwords_or_links_are_never_cached(client, world, name):
    args = {"group": [world.group1.pk], "console": [world.host1.pk], "project": [world.project1.pk]}.get(name, ["os"])
    client.force_login(world.ada)
    response = client.get(reverse(name, args=args))
    assert response.status_code == 200
    assert {"no-store", "no-cache", "private"} <= {part.strip() for part in response["Cache-Control"].split(",")}
