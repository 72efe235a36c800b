"""The portal as a person meets it: the web server (mlnweb.server) on the real ASGI app, a real `mln daemon`, and
Debian's Chromium driven by Playwright (never Playwright's own browsers).

The web server and the daemon are subprocesses on the test database (a SQLite file, mlnweb/settings.py)
and on a Redis database of their own (REDIS_DB), so their heartbeats, queues and channel groups
meet no other test run's. Screenshots go to tests/artifacts/ (git-ignored).
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.db import connection

from tests import factories

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
BIN = Path(sys.executable).parent
REDIS_DB = 7
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-pw"


def redis_url():
    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6390/0").rsplit("/", 1)[0]
    return f"{base}/{REDIS_DB}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Site:
    """One service host's mln.conf, its daemon, and the web server, all on the test database."""

    def __init__(self, folder, libvirt_uri, extra_conf=""):
        self.folder = folder
        self.service_host = f"browser-{uuid.uuid4().hex[:6]}"
        self.conf = folder / "mln.conf"
        self.conf.write_text(
            f"service_host {self.service_host}\nlibvirt_uri {libvirt_uri}\n"
            f"projects {folder / 'projects'}\nfiles {folder / 'files'}\n"
            "heartbeat_interval 0.5\nheartbeat_ttl 3\n"
            "vncdisplay_range 300-399\n" + extra_conf
        )  # the demo course pins 301-304
        self.env = {
            **os.environ,
            "MLN_CONF": str(self.conf),
            "REDIS_URL": redis_url(),
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
            "DEBUG": "0",
            # The service host's name is made up: its displays are on this machine.
            "MLN_CONSOLE_ADDRESSES": f"{self.service_host}=127.0.0.1",
        }
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes = []

    def start(self):
        self.spawn("daemon", [str(BIN / "mln"), "daemon"])
        self.spawn("web", [str(BIN / "python"), "-m", "mlnweb.server", "--port", str(self.port)])
        self.wait(lambda: self.redis().exists(f"mln:heartbeat:{self.service_host}"), "the daemon's heartbeat")
        self.wait(self.answers, "the web server")
        return self

    def spawn(self, name, argv):
        log = open(self.folder / f"{name}.log", "w")  # noqa: SIM115 - the process writes it after this returns
        self.processes.append(subprocess.Popen(argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))

    def answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def wait(self, ready, what, seconds=60):
        deadline = time.monotonic() + seconds
        while not ready():
            dead = [p for p in self.processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise AssertionError(f"{what} did not come up:\n{self.logs()}")
            time.sleep(0.2)

    def logs(self):
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.folder.glob("*.log"))

    def redis(self):
        return redis.Redis.from_url(redis_url())

    def stop(self):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        connection_ = self.redis()
        connection_.delete(f"mln:heartbeat:{self.service_host}")
        connection_.hdel("mln:daemons", self.service_host)
        for key in connection_.scan_iter(f"rq:*mln.{self.service_host}*"):
            connection_.delete(key)
        for key in connection_.scan_iter("rq:job:build-*"):  # this database is the browser tests' own
            connection_.delete(key)


@pytest.fixture(autouse=True)
def database_beside_playwright(monkeypatch):
    # Playwright's sync API runs an event loop in the test's thread, and Django then refuses
    # database calls from it; the test itself is synchronous, so they are safe (Django's docs:
    # "Async safety", DJANGO_ALLOW_ASYNC_UNSAFE).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def same_cluster(settings, monkeypatch):
    """This test process queues like the site does: the site's Redis database and mln.conf."""
    settings.RQ_QUEUES = {"default": {"URL": redis_url()}}

    def join(site):
        monkeypatch.setenv("MLN_CONF", str(site.conf))
        return site

    return join


@pytest.fixture
def site_folder():
    # libvirt's qemu user must reach a real guest's files: not pytest's 0700 tmp.
    folder = Path(tempfile.mkdtemp(prefix="browser-", dir=ROOT / "var"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def browser(tmp_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1300, "height": 900},
        )
        yield context
        context.close()


def screenshot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def make_instructor(username="ada"):
    return factories.instructor(username, password=PASSWORD)


def log_in(page, site, user):
    page.goto(f"{site.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit], main input[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
