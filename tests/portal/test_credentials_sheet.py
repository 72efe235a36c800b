"""The credentials sheet: a row per group and host with every account a student needs."""

import csv
import io

import pytest
from django.urls import reverse

from projects.courses import CourseInputs
from projects.models import Course
from tests import factories

pytestmark = pytest.mark.django_db

MASTER = """
host web {
    template tiny
    users {
        alice $alicepw
        bob hunter22
    }
    root_passwd $rootpw
}
host db {
    template tiny
    users {
        carol $carolpw
    }
    vncpasswd $vnc
}
host quiet {
    template tiny
}
"""
HASH = "$6$salt$0123456789abcdefABCDEF./"
TABLE = f"alicepw,rootpw,vnc,carolpw\n@random,typed-root,@random,{HASH}\ntyped-alice,@random,v2,x\n".encode()


@pytest.fixture
def course(client):
    ada = factories.instructor("ada")
    client.force_login(ada)
    course = Course(name="Typed and generated", short_name="tg", owner=ada)
    course.apply(CourseInputs("lab.mln", {"lab.mln": MASTER}, "groups.csv", TABLE))
    return course


def sheet(client, short_name="tg"):
    response = client.get(reverse("course_credentials", args=[short_name]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_every_host_of_every_group_has_its_row_with_typed_and_generated_passwords(client, course):
    rows = sheet(client)
    header = ["group", "project", "access link", "host", "root password", "console password"]
    assert rows[0] == [*header, "user 1", "password 1", "user 2", "password 2"]
    one, two = course.groups_with_projects()
    assert [(r[0], r[3]) for r in rows[1:]] == [("1", h) for h in ("db", "quiet", "web")] + [
        ("2", h) for h in ("db", "quiet", "web")
    ]
    link = f"http://testserver/g/#{one.token}"
    made = one.generated
    assert set(made) == {"alicepw", "vnc"} and all(len(p) == 16 for p in made.values())
    assert rows[3] == [
        "1",
        one.project.name,
        link,
        "web",
        "typed-root",
        "",
        "alice",
        made["alicepw"],
        "bob",
        "hunter22",
    ]
    assert rows[1] == ["1", one.project.name, link, "db", "", made["vnc"], "carol", "(set as a hash)", "", ""]
    assert rows[2] == ["1", one.project.name, link, "quiet", "", "", "", "", "", ""]
    web2 = rows[6]
    assert web2[:7] == [
        "2",
        two.project.name,
        f"http://testserver/g/#{two.token}",
        "web",
        two.generated["rootpw"],
        "",
        "alice",
    ]
    assert web2[7:] == ["typed-alice", "bob", "hunter22"]


def test_the_sheet_says_what_the_student_page_says(client, course):
    rows = sheet(client)
    one = course.groups_with_projects()[0]
    client.logout()
    client.post(reverse("group_open"), {"token": one.token})
    page = client.get(one.get_absolute_url()).content.decode()
    for row in rows[1:4]:
        for password in [row[4], *row[6:]]:  # the console password is the site's to give the console
            if password and password != "(set as a hash)":
                assert password in page


def test_a_course_with_no_groups_has_only_the_header(client):
    ada = factories.instructor("ada")
    client.force_login(ada)
    Course.objects.create(name="Empty", short_name="empty", owner=ada, master_name="m.mln")
    assert sheet(client, "empty") == [["group", "project", "access link", "host", "root password", "console password"]]
