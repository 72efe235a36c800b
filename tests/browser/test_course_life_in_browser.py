"""A course's life in Chromium, on the test driver (issue 11, "Tests"): an update that only renames the
table keeps every running group's state, host ids and access token; a changed password shows as pending
on the project page and on the student's group page; "Archive or delete…" leaves no guest and, the
second time, no course. The web server and `mln daemon` are real; screenshots in tests/artifacts/ (l1-l9)."""

import re
import time

import pytest

from projects.choices import HostState, ProjectState
from projects.models import Course, Group, Host, Project

from .conftest import log_in, make_instructor, screenshot
from .test_portal_in_browser import site_on_test_driver, upload_course  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

MASTER = """host pc {
    template os_linux_1.ext3
    users {
        student $pw
    }
}
"""
TABLE = "pw\nsecret-one\nsecret-two\n"
JOB_MS = 120_000


def wait_until(check, what, seconds=120):
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def host_states(short_name):
    return {h.pk: h.state for h in Host.objects.filter(project__group__course__short_name=short_name)}


def course_action(page, verb):
    page.click(f".panel button[data-action={verb}]")
    message = page.wait_for_selector("ul.messages li")
    assert message.get_attribute("class") == "success", message.inner_text()


def page_host_ids(page):
    """The Host ids the course page shows (its state badges), by project name."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('td[data-project-name]')]
        .map((td) => [td.dataset.projectName,
            [...td.closest('tr').querySelectorAll('[data-host-state]')].map((b) => b.dataset.hostState)]))""")


def console_links(page, site, project):
    page.goto(f"{site.url}/projects/{project.pk}/")
    return page.eval_on_selector_all("[data-console-link]", "(links) => links.map((a) => a.getAttribute('href'))")


def build_and_start(page, site, short_name):
    page.goto(f"{site.url}/courses/{short_name}/")
    page.wait_for_selector("[data-progress-status]:has-text('Live')")
    course_action(page, "build")
    wait_until(
        lambda: (
            set(Project.objects.filter(group__course__short_name=short_name).values_list("state", flat=True))
            == {ProjectState.BUILT}
        ),
        "the course is not built",
    )
    page.goto(f"{site.url}/courses/{short_name}/")
    course_action(page, "start")
    wait_until(lambda: set(host_states(short_name).values()) == {HostState.RUNNING}, "the hosts are not running")
    page.goto(f"{site.url}/courses/{short_name}/")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-host-state]')].every(b => b.textContent.trim() === 'running')",
        timeout=JOB_MS,
    )


def upload_version(page, site, short_name, table, shot):
    page.goto(f"{site.url}/courses/{short_name}/update/")
    page.set_input_files("input[name=table]", str(table))
    page.click("main form.stacked button[type=submit]")
    page.wait_for_url(re.compile(rf"/courses/{short_name}/drafts/\d+/$"))
    screenshot(page, shot)
    page.click("form[action$='/apply/'] button[type=submit]")
    page.wait_for_url(re.compile(rf"/courses/{short_name}/$"))


def test_an_update_keeps_running_groups_and_a_new_password_is_pending(browser, site_on_test_driver, tmp_path):  # noqa: F811
    site, ada = site_on_test_driver, make_instructor()
    (tmp_path / "lab.mln").write_text(MASTER)
    (tmp_path / "groups.csv").write_text(TABLE)
    page = browser.new_page()
    log_in(page, site, ada)
    upload_course(page, site, "Course life", "life", tmp_path / "lab.mln", tmp_path / "groups.csv")
    build_and_start(page, site, "life")
    screenshot(page, "l1-course-running")
    groups = list(Group.objects.filter(course__short_name="life").order_by("row"))
    before = {
        "ids": page_host_ids(page),
        "states": host_states("life"),
        "tokens": {g.pk: g.token for g in groups},
        "projects": {g.pk: g.project.pk for g in groups},
        "links": {g.project.name: console_links(page, site, g.project) for g in groups},
        "places": dict(
            Host.objects.filter(project__group__course__short_name="life").values_list("pk", "service_host")
        ),
    }
    assert all(before["links"].values()) and all(before["places"].values()), before

    # A new version whose table has only another file name: every group keeps everything.
    (tmp_path / "groups-v2.csv").write_text(TABLE)
    upload_version(page, site, "life", tmp_path / "groups-v2.csv", "l2-rename-preview")
    page.wait_for_selector("[data-progress-status]:has-text('Live')")
    assert "groups-v2.csv" in page.inner_text("main")
    screenshot(page, "l3-renamed-still-running")
    groups = list(Group.objects.filter(course__short_name="life").order_by("row"))
    assert page_host_ids(page) == before["ids"]
    assert host_states("life") == before["states"]
    assert {g.pk: g.token for g in groups} == before["tokens"]
    assert {g.pk: g.project.pk for g in groups} == before["projects"]
    places = dict(Host.objects.filter(project__group__course__short_name="life").values_list("pk", "service_host"))
    assert places == before["places"]
    texts = page.inner_text("table.groups")
    for words in ("not defined", "(not placed yet)"):
        assert words not in texts, texts
    for group in groups:
        assert console_links(page, site, group.project) == before["links"][group.project.name]
        assert not page.locator("[data-pending-host]").count()

    # A version where group 2's password changes: pending on its project page and its student page.
    (tmp_path / "groups-v3.csv").write_text("pw\nsecret-one\nsecret-three\n")
    upload_version(page, site, "life", tmp_path / "groups-v3.csv", "l4-password-preview")
    one, two = Group.objects.filter(course__short_name="life").order_by("row")
    assert host_states("life") == before["states"]
    assert {g.pk: g.token for g in (one, two)} == before["tokens"]
    page.goto(f"{site.url}/projects/{two.project.pk}/")
    pending = page.wait_for_selector("[data-pending-host=pc]")
    assert "password of student changed" in pending.inner_text()
    assert "secret-three" not in pending.inner_text()
    screenshot(page, "l5-project-pending")
    page.goto(f"{site.url}/projects/{one.project.pk}/")
    assert page.locator("[data-pending-host]").count() == 0

    student = browser.browser.new_context().new_page() if browser.browser else browser.new_page()
    student.goto(f"{site.url}{two.access_path()}")
    student.wait_for_url(f"{site.url}{two.get_absolute_url()}")
    note = student.wait_for_selector("[data-pending-host=pc]")
    assert "next start" in note.inner_text() and "secret-three" in note.inner_text()
    # Until then the guest accepts the old password: that is the one in "Your credentials".
    credentials = student.inner_text("table.credentials")
    assert "secret-two" in credentials and "secret-three" not in credentials, credentials
    screenshot(student, "l6-student-pending")


def test_deleting_a_course_from_its_page_removes_every_guest_then_the_course(browser, site_on_test_driver, tmp_path):  # noqa: F811
    site, ada = site_on_test_driver, make_instructor()
    (tmp_path / "lab.mln").write_text(MASTER)
    (tmp_path / "groups.csv").write_text(TABLE)
    page = browser.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, site, ada)
    upload_course(page, site, "Short course", "gone", tmp_path / "lab.mln", tmp_path / "groups.csv")
    build_and_start(page, site, "gone")
    projects = list(Project.objects.filter(group__course__short_name="gone"))
    host_ids = list(Host.objects.filter(project__in=projects).values_list("pk", flat=True))
    assert len(projects) == 2 and len(host_ids) == 2

    page.click("text=Archive or delete…")
    page.wait_for_url(re.compile(r"/courses/gone/delete/$"))
    assert page.locator("ul.holders li").count() == 2
    screenshot(page, "l7-delete-page-holders")
    page.click("button[data-action=delete]")  # "Remove guests, then delete": the removal is queued
    page.wait_for_url(re.compile(r"/courses/gone/$"))
    assert "delete it again" in page.inner_text("ul.messages")
    wait_until(
        lambda: (
            set(Project.objects.filter(pk__in=[p.pk for p in projects]).values_list("state", flat=True))
            <= {ProjectState.REMOVED, ProjectState.NEW}
        ),
        "the guests were not removed",
    )
    # What the daemon found in libvirt: no domain for any host.
    for host in Host.objects.filter(pk__in=host_ids):
        assert host.state == HostState.ABSENT, (host, host.state)
    page.goto(f"{site.url}/courses/gone/")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-host-state]')].every(b => b.textContent.trim() === 'not defined')",
        timeout=JOB_MS,
    )
    screenshot(page, "l8-guests-removed")

    page.goto(f"{site.url}/courses/gone/delete/")
    assert "No project of this course has guests in libvirt." in page.inner_text("main")
    page.click("button[data-action=delete]")
    page.wait_for_url(re.compile(r"/courses/$"))
    screenshot(page, "l9-course-deleted")
    assert "No courses yet" in page.inner_text("main") and not page.locator("a[href='/courses/gone/']").count()
    assert not Course.objects.filter(short_name="gone").exists()
    assert not Project.objects.filter(pk__in=[p.pk for p in projects]).exists()
    assert not Host.objects.filter(pk__in=host_ids).exists()
    assert page.goto(f"{site.url}/courses/gone/").status == 404
