"""In Chromium: a new course with a mistake keeps its files, the fix alone is uploaded again, the
preview shows every group before anything is stored, and the credentials sheet names every account
with its typed or generated password. Screenshots in tests/artifacts/ (c1-c3)."""

import csv
import io
import re
import subprocess

import pytest

from projects.models import Course, CourseDraft
from templates_registry.models import Template

from .conftest import Site, log_in, make_instructor, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

MASTER = """host web {
    template tiny
    users {
        alice $alicepw
        bob hunter22
    }
    root_passwd $rootpw
}
"""
TABLE = "alicepw,rootpw\n@random,typed-root\ntyped-alice,@random\n"


@pytest.fixture
def site(site_folder, transactional_db):
    image = site_folder / "tiny.img"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(image), "16M"], check=True)
    Template.register(image, name="tiny", boot="pv")
    (site_folder / "vmlinuz").write_bytes(b"kernel")
    site = Site(site_folder, "test:///default", f"kernel {site_folder / 'vmlinuz'}\n").start()
    yield site
    site.stop()


def test_a_new_course_keeps_its_files_is_previewed_and_its_sheet_has_every_password(browser, site, tmp_path):
    (tmp_path / "lab.mln").write_text(MASTER.replace("alice $alicepw", "alice $alicepw {"))
    (tmp_path / "groups.csv").write_text(TABLE)
    page = browser.new_page()
    log_in(page, site, make_instructor())
    page.goto(f"{site.url}/courses/new/")
    page.fill("input[name=name]", "Typed and generated")
    page.fill("input[name=short_name]", "tg")
    page.set_input_files("input[name=master]", str(tmp_path / "lab.mln"))
    page.set_input_files("input[name=table]", str(tmp_path / "groups.csv"))
    page.click("main form.stacked button[type=submit]")
    page.wait_for_selector(".problems")
    screenshot(page, "c1-new-course-kept-files")
    assert "groups.csv" in page.inner_text("[data-kept]") and not Course.objects.exists()

    (tmp_path / "lab.mln").write_text(MASTER)  # the fix: only the master is sent again
    page.set_input_files("input[name=master]", str(tmp_path / "lab.mln"))
    page.click("main form.stacked button[type=submit]")
    page.wait_for_url(re.compile(r"/courses/new/\d+/$"))
    screenshot(page, "c2-new-course-preview")
    assert page.locator("table[data-preview=new-course] tbody tr").count() == 2 and not Course.objects.exists()
    page.click("button[data-action=create]")
    page.wait_for_url(re.compile(r"/courses/tg/$"))
    assert not CourseDraft.objects.exists()

    with page.expect_download() as download:
        page.click("text=Credentials sheet")
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    one, two = Course.objects.get().groups_with_projects()
    assert rows[0][3:] == ["host", "root password", "console password", "user 1", "password 1", "user 2", "password 2"]
    assert rows[1][3:] == ["web", "typed-root", "", "alice", one.generated["alicepw"], "bob", "hunter22"]
    assert rows[2][3:] == ["web", two.generated["rootpw"], "", "alice", "typed-alice", "bob", "hunter22"]
    assert rows[1][2].endswith(f"/g/#{one.token}")
    page.set_content(f"<pre>{download.value.path().read_text()}</pre>")
    screenshot(page, "c3-credentials-sheet")
