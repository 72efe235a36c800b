"""An instructor builds a course and watches it; a student uses a real guest's console; another
group's student gets none. Chromium, the web server and `mln daemon` are real; screenshots in tests/artifacts/."""

import re
import subprocess
import time

import pytest

from daemon.agent.hypervisor import Hypervisor, HypervisorError
from projects import actions
from projects.choices import Action, BuildStatus, HostState
from projects.courses import CourseInputs
from projects.models import Build, Course, Host
from templates_registry.models import Template

from .conftest import ROOT, Site, log_in, make_instructor, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

DEMO = ROOT / "projects" / "demo"
TEMPLATES = ROOT / "var" / "templates"


def fake_image(folder, name):
    image = folder / "images" / name
    image.parent.mkdir(exist_ok=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(image), "16M"], check=True)
    return Template.register(image, name=name, boot="pv")


@pytest.fixture
def site_on_test_driver(site_folder, transactional_db):
    (site_folder / "vmlinuz").write_bytes(b"kernel")
    for name in ("os_linux_1.ext3", "winXP.template"):  # the article's template names
        fake_image(site_folder, name)
    # The test driver reports a few MiB free: the scheduler is told what to offer instead.
    site = Site(site_folder, "test:///default", f"kernel {site_folder / 'vmlinuz'}\nguest_memory 8G\n").start()
    yield site
    site.stop()


def upload_course(page, site, name, short_name, master, table, shot=None):
    """The new-course form, filled and sent as an instructor would; waits for the course page."""
    page.goto(f"{site.url}/courses/new/")
    page.fill("input[name=name]", name)
    page.fill("input[name=short_name]", short_name)
    page.set_input_files("input[name=master]", str(master))
    page.set_input_files("input[name=table]", str(table))
    if shot:
        screenshot(page, shot)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/courses/new/\d+/$"))  # the preview: nothing stored yet
    page.click("button[data-action=create]")
    page.wait_for_url(re.compile(rf"/courses/{short_name}/$"))


def test_an_instructor_uploads_a_course_builds_it_and_watches_every_bar_reach_the_end(browser, site_on_test_driver):
    site, ada = site_on_test_driver, make_instructor()
    page = browser.new_page()
    log_in(page, site, ada)
    upload_course(page, site, "Operating systems", "osb", DEMO / "oscourse.mln", DEMO / "groups.csv", "a1-upload")
    for name in ("osb-1", "osb-2", "osb-3", "osb-4"):  # the preview: every group, its hosts and topology
        assert page.locator(f"td[data-project-name={name}]").count() == 1
    assert page.locator("svg.topology").count() == 4
    page.wait_for_selector("[data-progress-status]:has-text('Live')")
    screenshot(page, "a2-preview")

    page.click(".panel button[data-action=build]")
    message = page.wait_for_selector("ul.messages li")
    assert message.get_attribute("class") == "success", message.inner_text()
    page.wait_for_function(
        """() => {
        const bars = [...document.querySelectorAll('td[data-progress-project] progress')];
        const total = document.querySelector('[data-progress-total]');
        return bars.length === 4 && bars.every(b => b.max > 1 && b.value >= b.max) && total.value >= total.max;
    }""",
        timeout=180_000,
    )
    page.wait_for_function(
        "() => document.querySelectorAll('[data-host-state]').length === 8 && "
        "[...document.querySelectorAll('[data-host-state]')].every(b => b.textContent.trim() !== 'not defined')",
        timeout=30_000,
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-project-state]')].every(e => e.textContent.trim() === 'built')",
        timeout=30_000,
    )
    screenshot(page, "a3-built")
    assert set(Build.objects.values_list("status", flat=True)) == {BuildStatus.SUCCEEDED}
    assert "100 %" in page.inner_text("[data-progress-total-label]")
    log = page.inner_text("ol[data-progress-log]")
    assert "osb-4 win" in log and "define" in log

    page.reload()  # nothing is lost: the stored events come back, bars full again
    page.wait_for_function(
        "() => [...document.querySelectorAll('td[data-progress-project] progress')]"
        ".every(b => b.max > 1 && b.value >= b.max)",
        timeout=30_000,
    )
    assert page.inner_text("ol[data-progress-log]").count("define") == log.count("define")


def test_a_failed_build_keeps_its_bar_and_says_it_failed(browser, site_on_test_driver, tmp_path):
    site, ada = site_on_test_driver, make_instructor()
    # An unknown template is refused at upload now: this one is known then, and gone by the build.
    image = tmp_path / "nosuch.img"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(image), "16M"], check=True)
    Template.register(image, name="nosuch")
    (tmp_path / "broken.mln").write_text("host pc {\n    template nosuch\n}\n")
    (tmp_path / "groups.csv").write_text("seat\n1\n")
    page = browser.new_page()
    log_in(page, site, ada)
    upload_course(page, site, "Broken", "broken", tmp_path / "broken.mln", tmp_path / "groups.csv")
    Template.objects.filter(name="nosuch").delete()
    page.wait_for_selector("[data-progress-status]:has-text('Live')")
    page.click(".panel button[data-action=build]")
    label = page.wait_for_selector("td[data-progress-project].failed [data-progress-label]", timeout=60_000)
    screenshot(page, "a4-failed")
    assert label.inner_text().startswith("failed")
    assert "unknown template 'nosuch'" in page.inner_text("ol[data-progress-log]")


# --- a real guest ------------------------------------------------------------------------------

TINY_MASTER = """host pc {
    template tiny
    memory 96M
    vncpasswd $vncpasswd
}
"""


def conf_value(key):
    for line in (ROOT / "var" / "mln.conf").read_text().splitlines():
        if line.split(" ", 1)[0] == key:
            return line.split(" ", 1)[1].strip()
    return None


@pytest.fixture
def qemu_site(site_folder, transactional_db, same_cluster):
    try:
        Hypervisor("qemu:///system").close()
    except HypervisorError as exc:
        pytest.skip(f"qemu:///system is not reachable (make libvirtd): {exc}")
    if not (TEMPLATES / "tiny.ext4").exists() or not conf_value("kernel"):
        pytest.skip("no tiny template: make tiny")
    Template.register(TEMPLATES / "tiny.ext4", name="tiny", boot="pv")
    site = same_cluster(
        Site(
            site_folder,
            "qemu:///system",
            f"kernel {conf_value('kernel')}\ninitrd {conf_value('initrd')}\nguest_memory 2G\n",
        )
    )
    site.start()
    yield site
    course = Course.objects.filter(short_name=site.short_name).first() if hasattr(site, "short_name") else None
    if course:
        removed = actions.submit([g.project for g in course.groups_with_projects()], Action.REMOVE)
        wait_for_builds(removed, 120)
    site.stop()
    for domain in subprocess.run(
        ["virsh", "-c", "qemu:///system", "list", "--all", "--name"], capture_output=True, text=True
    ).stdout.split():
        if hasattr(site, "short_name") and domain.startswith(site.short_name + "-"):
            subprocess.run(["virsh", "-c", "qemu:///system", "destroy", domain], capture_output=True)
            subprocess.run(["virsh", "-c", "qemu:///system", "undefine", domain], capture_output=True)


def wait_for_builds(builds, seconds):
    deadline = time.monotonic() + seconds
    for build in builds:
        while build.status not in (BuildStatus.SUCCEEDED, BuildStatus.FAILED):
            assert time.monotonic() < deadline, f"build {build} still {build.status}"
            time.sleep(0.5)
            build.refresh_from_db()
        assert build.status == BuildStatus.SUCCEEDED, f"{build}: {build.error}"
    return builds


def canvas_is_showing_a_screen(page):
    """Samples the noVNC canvas: connected, sized, and more than one colour on it."""
    return page.evaluate("""() => {
        const canvas = document.querySelector('#console canvas');
        if (!canvas || canvas.width < 100 || canvas.height < 100) return false;
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let lit = 0;
        for (let i = 0; i < data.length; i += 4 * 97) if (data[i] + data[i + 1] + data[i + 2] > 120) lit++;
        return lit > 20;
    }""")


def test_a_student_opens_the_console_of_a_real_guest_and_another_group_gets_none(browser, qemu_site):
    site = qemu_site
    site.short_name = f"bq{site.service_host[-6:]}"
    ada = make_instructor()
    course = Course(name="Console test", short_name=site.short_name, owner=ada)
    course.apply(CourseInputs("m.mln", {"m.mln": TINY_MASTER}, "t.csv", b"vncpasswd\nsecret01\nsecret02\n"))
    group1, group2 = course.groups.order_by("row")
    wait_for_builds(actions.submit([group1.project], Action.BUILD, ada), 240)  # the instructor's part (test a)

    # (b) The student of group 1 opens the access link, starts the guest, opens its console.
    student = browser.new_page()
    student.goto(f"{site.url}{group1.access_path()}")
    student.wait_for_url(f"{site.url}{group1.get_absolute_url()}")  # the link's page posts its token
    screenshot(student, "b1-group-page")
    student.locator("tr", has_text="pc").locator("button", has_text="Start").click()
    host = Host.objects.get(project=group1.project)
    deadline = time.monotonic() + 120
    while host.state != HostState.RUNNING:
        assert time.monotonic() < deadline, f"pc is {host.state}"
        time.sleep(1)
        host.refresh_from_db()
    student.reload()
    student.click("[data-console-link=pc]")
    student.wait_for_selector("#console-status:has-text('Connected to pc')", timeout=30_000)
    deadline = time.monotonic() + 180  # the guest boots under TCG on shared cores
    while not canvas_is_showing_a_screen(student):
        assert time.monotonic() < deadline, "the console stayed blank"
        student.wait_for_timeout(2000)
    log = site.folder / "projects" / group1.project.name / "pc.console.log"
    deadline = time.monotonic() + 180
    while "login:" not in (log.read_text(errors="replace") if log.exists() else ""):
        if time.monotonic() > deadline:
            break  # the screen is shown already; the picture is then of an earlier moment of the boot
        time.sleep(2)
    student.wait_for_timeout(2000)
    screenshot(student, "b2-console")

    # (c) A student of group 2 (their own access link) gets no console of group 1's guest.
    other = browser.browser.new_context() if browser.browser else None
    other_page = (other or browser).new_page()
    other_page.context.clear_cookies()
    other_page.goto(f"{site.url}{group2.access_path()}")
    other_page.wait_for_url(f"{site.url}{group2.get_absolute_url()}")  # the link's page posts its token
    response = other_page.goto(f"{site.url}/hosts/{host.pk}/console/")
    assert response.status == 404 and "Not found" in other_page.inner_text("main")
    code = other_page.evaluate(
        """(path) => new Promise((resolve) => {
        const socket = new WebSocket(`ws://${location.host}${path}`, ['binary']);
        socket.addEventListener('close', (event) => resolve(event.code));
    })""",
        f"/ws/console/{host.pk}/",
    )
    assert code == 4403
    screenshot(other_page, "c-other-group-no-console")
