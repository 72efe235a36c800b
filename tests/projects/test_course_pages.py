"""The instructor's course pages through Django's test client, on the real database."""

import csv
import io
import os
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects.lang import MemorySources, loads
from projects.models import Course, CourseDraft, Group, Host, Project, Switch
from tests import factories

from .conftest import OSCOURSE, OSCOURSE_TABLE, table_bytes

pytestmark = pytest.mark.django_db

HEADER = ("gnum", "userpasswd", "rpasswd", "vncpasswd")


@pytest.fixture(autouse=True)
def conf_allowing_the_courses_display(tmp_path, monkeypatch):
    """The article's course pins `vncdisplay 300`: this site's administrator allows 300-399 (checked at upload)."""
    base = Path(os.environ.get("MLN_CONF") or "/nonexistent")
    path = tmp_path / "mln.conf"
    path.write_text((base.read_text() if base.is_file() else "") + "\nvncdisplay_range 300-399\n")
    monkeypatch.setenv("MLN_CONF", str(path))
    return path


def upload(name, data):
    return SimpleUploadedFile(name, data)


def new_course(client, table=OSCOURSE_TABLE, table_name="groups.csv", master=OSCOURSE, short_name="os", extra=()):
    """Upload, then create from the preview (tests/projects/test_course_new.py tests the preview itself)."""
    response = client.post(
        reverse("course_new"),
        {
            "name": "Operating systems",
            "short_name": short_name,
            "master": upload("oscourse.mln", master.encode()),
            "extra_files": [upload(n, t.encode()) for n, t in extra],
            "table": upload(table_name, table),
        },
    )
    if response.status_code != 302:
        return response
    return client.post(response["Location"] + "create/")


def update_course(client, short_name="os", **files):
    data = {name: upload(*value) for name, value in files.items()}
    return client.post(reverse("course_update", args=[short_name]), data)


def test_uploading_a_course_stores_every_group_with_its_project_hosts_and_switches(client, instructor):
    response = new_course(client)
    course = Course.objects.get(short_name="os")
    assert response.status_code == 302 and response["Location"] == course.get_absolute_url()
    assert (course.owner, course.master_name, course.table_name) == (instructor, "oscourse.mln", "groups.csv")
    assert bytes(course.table) == OSCOURSE_TABLE
    assert Group.objects.filter(course=course).count() == 60
    project = Project.objects.get(name="os-03")
    assert project.group.row == 3 and project.group.variables["gnum"] == "03"
    assert set(project.group.generated) == {"userpasswd", "rpasswd", "vncpasswd"}
    assert project.tree["hosts"]["ubuntu"]["users"] == {"osuser03": project.group.generated["userpasswd"]}
    assert project.spec["hosts"]["win"]["memory"] == 256 * 2**20
    assert [(h.name, h.memory, h.template) for h in project.hosts.all()] == [
        ("ubuntu", 128 * 2**20, "os_linux_1.ext3"),
        ("win", 256 * 2**20, "winXP.template"),
    ]
    assert [s.name for s in project.switches.all()] == ["lan"]
    assert Host.objects.count() == 120 and Switch.objects.count() == 60


def test_the_course_page_previews_every_group(client, instructor):
    new_course(client)
    page = client.get(reverse("course", args=["os"])).content.decode()
    assert page.count("<tr>") == 61  # header and sixty groups
    for text in (
        "os-01",
        "os-60",
        "ubuntu",
        "128.0\xa0MB",
        "os_linux_1.ext3",
        "winXP.template",
        "lan",
        "$gnum",
        "generated",
    ):
        assert text in page
    assert Project.objects.get(name="os-01").group.generated["rpasswd"] not in page  # no password on a projector


def test_the_course_list_shows_the_instructors_courses_with_their_group_counts(client, instructor):
    new_course(client)
    page = client.get(reverse("courses")).content.decode()
    assert 'href="/courses/os/">Operating systems</a>' in page and "<td>60</td>" in page
    assert client.get("/").url == reverse("courses")


def test_a_course_with_extra_files_and_an_xlsx_table_is_stored_with_them(client, instructor):
    import openpyxl

    workbook = openpyxl.Workbook()
    for row in (HEADER, ("01", "@random", "r", "v"), ("02", "@random", "r", "v")):
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    master = "#include common.mln\n" + OSCOURSE.replace("switch lan { }", "")
    response = new_course(
        client,
        table=buffer.getvalue(),
        table_name="groups.xlsx",
        master=master,
        extra=[("common.mln", "switch lan { }\n")],
    )
    assert response.status_code == 302
    course = Course.objects.get(short_name="os")
    assert sorted(f.name for f in course.files.all()) == ["common.mln", "oscourse.mln"]
    assert [g.project.name for g in course.groups_with_projects()] == ["os-1", "os-2"]


def test_a_course_with_problems_shows_them_inline_and_stores_nothing(client, instructor):
    table = table_bytes(("gnum", "userpasswd", "rpasswd"), ("01", "u", ""), ("02", "u", "r"))
    response = new_course(client, table=table)
    page = response.content.decode()
    assert response.status_code == 200
    assert "groups.csv:2:3</code> group 1: the cell of column &#x27;rpasswd&#x27; is empty" in page
    assert "oscourse.mln:35:15</code> undefined variable $vncpasswd" in page
    assert not Course.objects.exists() and not Group.objects.exists() and not Project.objects.exists()


def test_a_project_name_taken_by_another_course_is_reported_with_that_course(client, instructor):
    new_course(client)
    response = new_course(client, short_name="os2", master=OSCOURSE + "\nglobal { project os-$[gnum] }\n")
    assert "group 1: project os-01 already exists (in your course Operating systems)" in response.content.decode()
    assert Course.objects.count() == 1


def test_a_project_name_taken_by_another_instructors_course_does_not_name_that_course(client, instructor):
    new_course(client)
    Course.objects.filter(short_name="os").update(name="Grace's secret seminar")
    client.force_login(factories.instructor("bob"))
    response = new_course(client, short_name="os2", master=OSCOURSE + "\nglobal { project os-$[gnum] }\n")
    page = response.content.decode()
    assert "group 1: project os-01 already exists (in another course or made from the command line)" in page
    assert "secret seminar" not in page and "Grace" not in page
    assert Course.objects.count() == 1


def test_a_new_table_shows_the_changes_per_group_before_they_are_applied(client, instructor):
    new_course(client, table=table_bytes(HEADER, *[(f"0{n}", "@random", "r", "v") for n in (1, 2, 3)]))
    # Another root password for group 2, a fourth group.
    table = table_bytes(
        HEADER,
        ("01", "@random", "r", "v"),
        ("02", "@random", "S3cretRoot", "v"),
        ("03", "@random", "r", "v"),
        ("04", "@random", "r", "v"),
    )
    response = update_course(client, table=("groups2.csv", table))
    draft = CourseDraft.objects.get()
    assert response["Location"] == reverse("course_draft", args=["os", draft.pk])
    assert Group.objects.count() == 3  # nothing applied yet

    page = client.get(response["Location"]).content.decode()
    rows = {kind: page.count(f'<tr class="{kind}">') for kind in ("added", "removed", "changed", "unchanged")}
    assert rows == {"added": 1, "removed": 0, "changed": 1, "unchanged": 2}
    assert "host ubuntu: root_passwd changed" in page and "S3cretRoot" not in page

    client.post(reverse("course_draft_apply", args=["os", draft.pk]))
    assert not CourseDraft.objects.exists()
    assert sorted(Project.objects.values_list("name", flat=True)) == ["os-1", "os-2", "os-3", "os-4"]
    assert Project.objects.get(name="os-2").tree["hosts"]["ubuntu"]["root_passwd"] == "S3cretRoot"
    assert Course.objects.get().table_name == "groups2.csv"


def test_groups_keep_their_tokens_and_passwords_when_their_rows_move(client, instructor):
    master = OSCOURSE + "\nglobal { project os$[gnum] }\n"
    new_course(
        client, master=master, table=table_bytes(HEADER, *[(f"0{n}", "@random", "@random", "v") for n in (1, 2, 3)])
    )
    before = {g.project.name: (g.token, g.generated, g.project.pk) for g in Group.objects.select_related("project")}
    table = table_bytes(
        HEADER,
        ("02", "@random", "@random", "v"),
        ("03", "@random", "@random", "changed"),
        ("04", "@random", "@random", "v"),
    )
    draft_url = update_course(client, table=("groups.csv", table))["Location"]

    page = client.get(draft_url).content.decode()
    assert '<tr class="removed"><td></td><td>os01</td>' in page
    assert (
        '<tr class="changed"><td>1</td><td>os02</td><td>changed</td>\n        <td>group 2 becomes group 1</td>' in page
    )
    assert "host win: vncpasswd changed" in page and "changed</td>" in page
    assert '<tr class="added"><td>3</td><td>os04</td>' in page

    client.post(draft_url + "apply/")
    after = {g.project.name: (g.token, g.generated, g.project.pk) for g in Group.objects.select_related("project")}
    assert set(after) == {"os02", "os03", "os04"}
    assert after["os02"] == before["os02"] and after["os03"] == before["os03"]
    assert Group.objects.get(project__name="os02").row == 1
    assert Project.objects.get(name="os03").tree["hosts"]["win"]["vncpasswd"] == "changed"
    assert Host.objects.filter(project__name="os03").count() == 2


def test_expanding_an_unchanged_course_again_changes_nothing(client, instructor):
    new_course(client)
    course = Course.objects.get()
    changes = course.changes(course.expand())
    assert {c.kind for c in changes} == {"unchanged"} and len(changes) == 60


def test_a_new_master_with_a_problem_is_shown_and_no_draft_is_kept(client, instructor):
    new_course(client)
    response = update_course(client, master=("oscourse.mln", OSCOURSE.replace("memory 128M", "memory lots").encode()))
    assert response.status_code == 200
    assert "oscourse.mln:" in response.content.decode() and "lots" in response.content.decode()
    assert not CourseDraft.objects.exists()


def test_a_draft_can_be_discarded(client, instructor):
    new_course(client)
    draft_url = update_course(client, master=("oscourse.mln", OSCOURSE.replace("128M", "512M").encode()))["Location"]
    assert "host ubuntu: memory 128M -&gt; 512M" in client.get(draft_url).content.decode()
    client.post(draft_url + "discard/")
    assert not CourseDraft.objects.exists()
    assert Host.objects.filter(name="ubuntu").first().memory == 128 * 2**20


def test_the_zip_holds_every_group_file_beside_the_master_and_each_expands(client, instructor):
    new_course(client)
    response = client.get(reverse("course_zip", args=["os"]))
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    assert len(names) == 61 and "os/oscourse.mln" in names and "os/os-60.mln" in names
    files = {name.removeprefix("os/"): archive.read(name).decode() for name in names}
    tree = loads(files["os-05.mln"], filename="os-05.mln", sources=MemorySources(files))
    assert tree == Project.objects.get(name="os-05").tree


def test_the_credentials_sheet_has_a_row_per_group_with_link_and_passwords(client, instructor):
    new_course(client)
    response = client.get(reverse("course_credentials", args=["os"]))
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    header = ["group", "project", "access link", "host", "root password", "console password"]
    assert rows[0] == [*header, "user 1", "password 1"]
    assert len(rows) == 1 + 60 * 2  # a row per group and host
    group = Group.objects.get(project__name="os-07")
    link, made = f"http://testserver/g/#{group.token}", group.generated
    assert rows[13] == ["7", "os-07", link, "ubuntu", made["rpasswd"], "", "osuser07", made["userpasswd"]]
    assert rows[14] == ["7", "os-07", link, "win", made["rpasswd"], made["vncpasswd"], "osuser07", made["userpasswd"]]
    path, token = rows[13][2].removeprefix("http://testserver").split("#")
    student_page = client.post(path, {"token": token}, follow=True)  # what the link's page does
    assert student_page.status_code == 200 and "os-07" in student_page.content.decode()
    assert "winXP.template" in student_page.content.decode()


def test_an_anonymous_visitor_is_sent_to_log_in(client):
    for name, args in (("courses", []), ("course_new", []), ("course", ["os"]), ("course_zip", ["os"])):
        response = client.get(reverse(name, args=args))
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    assert client.get("/login/").status_code == 200


def test_a_user_who_is_not_an_instructor_is_refused(client):
    client.force_login(factories.student("student"))
    assert client.get(reverse("courses")).status_code == 403
    assert client.get(reverse("course_new")).status_code == 403


def test_staff_users_are_instructors_of_their_own_courses_only(client, instructor):
    new_course(client)
    client.force_login(factories.staff("staff"))
    assert client.get(reverse("courses")).status_code == 200
    for name in ("course", "course_zip", "course_credentials"):
        assert client.get(reverse(name, args=["os"])).status_code == 404, name


def test_another_instructors_course_is_not_found(client, instructor):
    new_course(client)
    course = Course.objects.get()
    client.force_login(factories.instructor("bob"))
    for name in ("course", "course_update", "course_zip", "course_credentials"):
        assert client.get(reverse(name, args=["os"])).status_code == 404
    draft = course.drafts.create(**vars(course.inputs()))
    assert client.post(reverse("course_draft_apply", args=["os", draft.pk])).status_code == 404
    assert "Operating systems" not in client.get(reverse("courses")).content.decode()


def test_an_unknown_access_token_is_not_found(client):
    assert client.get("/g/not-a-token/").status_code == 404
    assert client.post("/g/", {"token": "not-a-token"}).status_code == 404
