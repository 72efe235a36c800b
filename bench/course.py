"""How fast courses expand: the command line and the upload page.

    .venv/bin/python bench/course.py [GROUPS_CLI] [GROUPS_UPLOAD]

1. `mln course expand` of the article's oscourse.mln (Listing 5) with a
   1,000-row table of @random passwords, writing the group files: the whole
   process, as a user runs it (target: under 2 s).
2. The upload request of a new 200-group course through Django's test
   client, on a throwaway SQLite database: form, expansion (in its bounded
   child process), every row stored (target: under 1 s). A re-upload's changes page and apply are
   timed too, for information.
"""

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MASTER = ROOT / "tests" / "projects" / "files" / "oscourse.mln"
MLN = Path(sys.executable).parent / "mln"


def table(groups):
    rows = ["gnum,userpasswd,rpasswd,vncpasswd"]
    rows += [f"{n:0{len(str(groups))}d},@random,@random,@random" for n in range(1, groups + 1)]
    return ("\n".join(rows) + "\n").encode()


def bench_cli(workdir, groups):
    shutil.copy(MASTER, workdir / "oscourse.mln")
    (workdir / "groups.csv").write_bytes(table(groups))
    command = [
        str(MLN),
        "course",
        "expand",
        "-m",
        str(workdir / "oscourse.mln"),
        "-t",
        str(workdir / "groups.csv"),
        "-o",
        str(workdir / "out"),
    ]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == groups
    print(f"mln course expand, {groups} groups (whole process): {seconds:5.2f} s  (target < 2 s)")
    return seconds


def setup_django(workdir):
    os.environ["MLN_VAR_DIR"] = str(workdir)
    # The site's own mln.conf: the article's course pins `vncdisplay 300`, which uploads check.
    (workdir / "mln.conf").write_text("vncdisplay_range 300-399\n")
    os.environ["MLN_CONF"] = str(workdir / "mln.conf")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # a throwaway site of its own
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "mlnweb.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client's "testserver" host in
    call_command("migrate", verbosity=0)
    # Uploads refuse unknown templates: register the two the article's course names (blank images).
    from templates_registry.models import Template

    image = workdir / "blank.img"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(image), "16M"], check=True)
    for name in ("os_linux_1.ext3", "winXP.template"):
        Template.register(image, name=name)


def bench_upload(groups):
    from django.contrib.auth.models import User
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from projects.models import Course, Project

    client = Client()
    client.force_login(User.objects.create_user("bench", is_staff=True))
    master = MASTER.read_bytes()
    client.get("/courses/new/")  # warm up: templates, URL resolver, the grammar
    data = {
        "name": "Bench",
        "short_name": "bench",
        "master": SimpleUploadedFile("oscourse.mln", master),
        "table": SimpleUploadedFile("groups.csv", table(groups)),
    }
    started = time.perf_counter()
    response = client.post("/courses/new/", data)  # the preview's draft, then create it
    response = client.post(response["Location"] + "create/") if response.status_code == 302 else response
    seconds = time.perf_counter() - started
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Project.objects.filter(group__course__short_name="bench").count() == groups
    print(f"upload of a new {groups}-group course (one request):   {seconds:5.2f} s  (target < 1 s)")

    # A new master for every group: the changes page, then apply.
    changed = master.replace(b"memory 128M", b"memory 192M")
    started = time.perf_counter()
    response = client.post("/courses/bench/update/", {"master": SimpleUploadedFile("oscourse.mln", changed)})
    page = client.get(response["Location"])
    shown = time.perf_counter() - started
    assert page.content.decode().count('<tr class="changed">') == groups
    started = time.perf_counter()
    client.post(response["Location"] + "apply/")
    applied = time.perf_counter() - started
    assert Course.objects.get(short_name="bench").groups.filter(project__hosts__memory=192 << 20).count() == groups
    print(f"re-upload: changes page {shown:5.2f} s, apply {applied:5.2f} s  (for information)")
    return seconds


def main(cli_groups=1000, upload_groups=200):
    with tempfile.TemporaryDirectory() as workdir:
        workdir = Path(workdir)
        cli = bench_cli(workdir, cli_groups)
        setup_django(workdir)
        upload = bench_upload(upload_groups)
    return 0 if cli < 2 and upload < 1 else 1


if __name__ == "__main__":
    sys.exit(main(*map(int, sys.argv[1:])))
