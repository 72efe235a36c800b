"""A student's group page and console page follow a real guest's stop and start live, with no reload
(issue 11, items 4 and 5). Chromium, the web server, `mln daemon` and the guest are real; screenshots
in the test's tmp folder."""

import threading
import time

import pytest
from django.conf import settings as django_settings

from daemon.cluster import builds
from daemon.cluster.builds import broadcast
from projects import actions
from projects.choices import Action, HostState, ProjectState
from projects.courses import CourseInputs
from projects.models import Course, Host

from .conftest import log_in, make_instructor, redis_url
from .test_portal_in_browser import TINY_MASTER, qemu_site, site_on_test_driver, wait_for_builds  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

LIVE_MS = 60_000  # a job on shared cores, then the states' settle time


def shot(page, folder, name):
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def wait_state(host, state, seconds=120):
    deadline = time.monotonic() + seconds
    while host.state != state:
        assert time.monotonic() < deadline, f"{host.name} is {host.state}, not {state}"
        time.sleep(0.5)
        host.refresh_from_db()


@pytest.mark.qemu
def test_the_student_page_and_the_console_follow_a_stop_and_a_start_live(browser, qemu_site, tmp_path):  # noqa: F811
    site = qemu_site
    site.short_name = f"lv{site.service_host[-6:]}"
    ada = make_instructor()
    course = Course(name="Live pages", short_name=site.short_name, owner=ada)
    course.apply(CourseInputs("m.mln", {"m.mln": TINY_MASTER}, "t.csv", b"vncpasswd\nsecret01\n"))
    group = course.groups.get()
    wait_for_builds(actions.submit([group.project], Action.BUILD, ada), 240)
    host = Host.objects.get(project=group.project)
    assert host.state != HostState.RUNNING

    # The group page, opened once and never reloaded.
    student = browser.new_page()
    student.goto(f"{site.url}{group.access_path()}")
    student.wait_for_url(f"{site.url}{group.get_absolute_url()}")
    student.wait_for_selector("[data-progress-status]:has-text('Live')")
    student.evaluate("() => { window.neverReloaded = true; }")
    badge = f"[data-host-state='{host.pk}']"
    assert student.inner_text(badge) == "off"
    assert not student.is_visible(f"[data-console-for='{host.pk}']")
    text = student.inner_text("main")
    for words in ("service host", "Service host", "absent", "not defined"):
        assert words not in text
    shot(student, tmp_path, "1-group-page-off")

    # The console page of a host that is off offers Start; the start does not end in "not running".
    console = browser.new_page()
    console.goto(f"{site.url}/hosts/{host.pk}/console/")
    assert "connects by itself" in console.inner_text("#console-status")
    console.click("[data-start-form] button")
    console.wait_for_selector("#console-status:has-text('Connected to pc')", timeout=LIVE_MS)
    assert console.is_hidden("[data-start-form]")
    shot(console, tmp_path, "2-console-connected-by-itself")

    # Meanwhile the group page followed: running, with a Console link, and no reload.
    student.wait_for_selector(f"{badge}:has-text('running')", timeout=LIVE_MS)
    student.wait_for_selector(f"[data-console-for='{host.pk}']", state="visible", timeout=LIVE_MS)
    shot(student, tmp_path, "3-group-page-running")

    # The instructor stops it: both pages say so, live.
    wait_for_builds(actions.submit([group.project], Action.POWEROFF, ada, "pc"), 120)
    student.wait_for_selector(f"{badge}:has-text('off')", timeout=LIVE_MS)
    student.wait_for_selector(f"[data-console-for='{host.pk}']", state="hidden", timeout=LIVE_MS)
    console.wait_for_selector("#console-status:has-text('pc is off')", timeout=LIVE_MS)
    console.wait_for_selector("[data-start-form]", state="visible", timeout=LIVE_MS)
    shot(student, tmp_path, "4-group-page-stopped")
    shot(console, tmp_path, "5-console-says-stopped")

    # ... and starts it again: the console reconnects by itself.
    wait_for_builds(actions.submit([group.project], Action.START, ada, "pc"), 120)
    student.wait_for_selector(f"{badge}:has-text('running')", timeout=LIVE_MS)
    console.wait_for_selector("#console-status:has-text('Connected to pc')", timeout=LIVE_MS)
    shot(console, tmp_path, "6-console-reconnected")
    assert student.evaluate("() => window.neverReloaded === true")

    # On a phone, 390 px wide, every button of both pages stays on screen.
    for page, name in ((student, "7-group-page-390px"), (console, "8-console-390px")):
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(300)
        off_screen = page.evaluate(OFF_SCREEN_BUTTONS)
        shot(page, tmp_path, name)
        assert off_screen == [], f"{name}: {off_screen}"
    print(f"screenshots in {tmp_path}")


OFF_SCREEN_BUTTONS = """() => [...document.querySelectorAll('button, a.button')]
    .filter((b) => b.offsetParent !== null)
    .filter((b) => { const r = b.getBoundingClientRect(); return r.left < 0 || r.right > window.innerWidth; })
    .map((b) => b.textContent.trim())"""


def test_the_course_bar_counts_latest_builds_never_says_100_while_queued_and_shows_a_failure(
    browser,
    site_on_test_driver,  # noqa: F811 - the fixture imported above
    tmp_path,
    settings,
):
    site, ada = site_on_test_driver, make_instructor()
    course = Course(name="Bars", short_name="bars", owner=ada)
    course.apply(
        CourseInputs("m.mln", {"m.mln": "host pc {\n    template os_linux_1.ext3\n}\n"}, "t.csv", b"seat\n1\n2\n")
    )
    first, second = (g.project for g in course.groups.order_by("row"))
    old = builds.submit(first, Action.BUILD, site.service_host)  # built yesterday: all its steps done
    old.log_event("storage", "made", done=4, total=4)
    old.succeed()
    builds.submit(first, Action.START, site.service_host)  # queued, never enqueued: it stays queued
    done = builds.submit(second, Action.BUILD, site.service_host)
    done.log_event("storage", "made", done=4, total=4)
    done.succeed()

    page = browser.new_page()
    log_in(page, site, ada)
    page.goto(f"{site.url}/courses/bars/")
    page.wait_for_selector("[data-progress-status]:has-text('Live')")
    label = page.inner_text("[data-progress-total-label]")
    shot(page, tmp_path, "9-course-bar-queued")
    assert "100 %" not in label and "1 project queued" in label, label
    assert page.evaluate("() => document.querySelector('[data-progress-total]').value") == 4

    builds.submit(second, Action.START, site.service_host).fail("start pc: not built: run mln build for project x")
    page.reload()
    page.wait_for_selector(".total.failed [data-progress-total-label]:has-text('1 failed')")
    shot(page, tmp_path, "10-course-bar-failed")

    # The project page's header badge and topology picture follow what the daemon records.
    page.goto(f"{site.url}/projects/{first.pk}/")
    page.wait_for_selector("[data-progress-status]:has-text('Live')")
    assert page.inner_text(f"h2 [data-project-state='{first.pk}']") == "not built"
    first.set_state(ProjectState.RUNNING)
    Host.objects.filter(project=first).update(state=HostState.RUNNING)
    layer = {"address": redis_url(), "socket_timeout": None}  # the site's channel layer, not this process's
    settings.CHANNEL_LAYERS = {"default": {**django_settings.CHANNEL_LAYERS["default"], "CONFIG": {"hosts": [layer]}}}
    event = old.log_event("start", "started", host_name="pc", done=2, total=2)
    # As the daemon does; in a thread of its own, as Playwright's loop runs in this one.
    sender = threading.Thread(target=broadcast, args=(first, event))
    sender.start()
    sender.join()
    # Sooner than the 10 s poll (static/js/states.js): the event made the page ask.
    page.wait_for_selector(f"h2 .project-running[data-project-state='{first.pk}']:has-text('running')", timeout=6000)
    page.wait_for_selector("[data-topology-host=pc].state-running [data-topology-state]:has-text('running')")
    shot(page, tmp_path, "11-project-page-followed")
