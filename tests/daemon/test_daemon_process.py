"""`mln daemon` as a real process: it takes its service host's jobs from Redis.

The daemon is a subprocess on libvirt's test driver, whose guests live in
that process: what it did is read from the rows it writes (Build,
BuildEvent, Host) in the test database, a SQLite file both processes open,
and from the live events it sends to the real Redis channel layer.
"""

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import django_rq
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import connection

from daemon.cluster import heartbeat, signing
from projects.choices import Action, BuildStatus, HostState, ProjectState
from projects.cli import main
from projects.models import Project
from tests.factories import ldaptest, save_project

# slow: `mln daemon` processes.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120), pytest.mark.slow]

MLN = Path(sys.executable).parent / "mln"


class Daemon:
    """One `mln daemon` for a service host of its own (other runs may share this Redis)."""

    def __init__(self, folder, mln_conf):
        self.name = f"other-{uuid.uuid4().hex[:8]}"
        self.folder = folder
        self.conf = folder / "daemon.conf"
        self.conf.write_text(Path(mln_conf.path).read_text() + f"service_host {self.name}\n")
        self.log = folder / "daemon.log"
        env = {
            **os.environ,
            "MLN_CONF": str(self.conf),
            "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        }
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [str(MLN), "daemon", "-D", str(folder / "daemon.pid")], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.redis = django_rq.get_connection("default")

    def wait_alive(self, seconds=30):
        deadline = time.monotonic() + seconds
        while not heartbeat.is_alive(self.redis, self.name):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"mln daemon did not come up:\n{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        heartbeat.withdraw(self.redis, self.name)
        self.redis.hdel(heartbeat.LAST, self.name)
        signing.queue(self.name).delete(delete_jobs=True)


@pytest.fixture
def daemon(tmp_path, mln_conf, tiny):
    daemon = Daemon(tmp_path, mln_conf)
    try:
        daemon.wait_alive()
        yield daemon
    finally:
        daemon.stop()


def on_service_host(text, name):
    """The test's copy of a project file, every host given `service_host NAME`."""
    return re.sub(r"^(host \S+ \{)", rf"\1\n    service_host {name}", text, flags=re.MULTILINE)


LDAPTEST = """global { project ldaptest }
host ldapclient {
    memory 128M
    template tiny
    network eth0 { address dhcp
        switch LDAPlan }
}
host ldapserver {
    memory 256M
    template tiny
    network eth0 { address 10.0.0.2
        netmask 255.255.255.0
        switch LDAPlan }
}
switch LDAPlan { }
"""


def host_states(project):
    return {h.name: (h.state, h.service_host) for h in project.hosts.all()}


def test_mln_build_for_another_service_host_is_run_by_its_daemon_and_followed(daemon, tmp_path, capsys):
    path = tmp_path / "ldaptest.mln"
    path.write_text(on_service_host(LDAPTEST, daemon.name))
    assert main(["build", "-f", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"ldaptest: build queued on mln.{daemon.name}" in out
    assert "[8/8] define ldapserver: made" in out  # the daemon's events, followed from the database
    project = Project.objects.get(name="ldaptest")
    assert project.state == ProjectState.BUILT
    assert host_states(project) == {
        "ldapclient": (HostState.STOPPED, daemon.name),
        "ldapserver": (HostState.STOPPED, daemon.name),
    }
    assert main(["start", "-p", "ldaptest", "-h", "ldapserver"]) == 0
    assert host_states(project)["ldapserver"] == (HostState.RUNNING, daemon.name)
    assert host_states(project)["ldapclient"] == (HostState.STOPPED, daemon.name)
    assert main(["remove", "-p", "ldaptest"]) == 0
    assert {state for state, _home in host_states(project).values()} == {HostState.ABSENT}
    assert project.builds.filter(status=BuildStatus.SUCCEEDED).count() == 3
    assert "Traceback" not in daemon.log.read_text()


def test_a_failure_on_the_daemon_is_reported_by_the_command_line(daemon, tmp_path, capsys):
    path = tmp_path / "ldaptest.mln"
    path.write_text(on_service_host(LDAPTEST, daemon.name).replace("template tiny", "template nosuch", 1))
    assert main(["build", "-f", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"mln: error: build ldaptest: {path}:2:1: host ldapclient: unknown template 'nosuch'" in err


def test_a_daemons_events_reach_the_projects_channel_layer_group(daemon):
    project = save_project(ldaptest())
    layer = get_channel_layer()  # channels-redis on the test Redis, as in the web process

    async def watch():
        channel = await layer.new_channel()
        await layer.group_add(f"project-{project.pk}", channel)
        build = await sync_to_async(project.enqueue_build)(Action.BUILD, daemon.name)
        try:
            while True:  # until the last step's event; other messages may come from other runs
                message = await asyncio.wait_for(layer.receive(channel), timeout=30)
                if message["build"] == build.pk and message["done"] == message["total"]:
                    return build, message
        finally:
            await layer.group_discard(f"project-{project.pk}", channel)

    build, message = async_to_sync(watch)()
    assert message == {
        **message,
        "type": "build.event",
        "project": project.pk,
        "step": "define",
        "host": "ldapserver",
        "done": 8,
        "total": 8,
    }
    build.refresh_from_db()
    assert build.status in (BuildStatus.RUNNING, BuildStatus.SUCCEEDED)  # the event comes before the end
    assert build.events.filter(seq=message["seq"], step="define", host_name="ldapserver").exists()
