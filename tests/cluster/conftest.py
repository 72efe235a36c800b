"""A cluster on one machine: real `mln daemon` processes, real Redis, one test database.

Each daemon is a subprocess with its own mln.conf, service host and
`test:///default` (whose state lives in that process), sharing Redis and
the test database (a SQLite file, see mlnweb/settings.py). Heartbeats are
fast and short-lived here (0.3 s, dead after 1.5 s), and a job waits 2 s for
a dead daemon. Service host names are unique per test: other runs may share
this Redis.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import django_rq
import pytest
from django.conf import settings
from django.db import connection

from daemon import conf as mlnconf
from daemon.cluster import heartbeat, signing
from templates_registry.models import Template

MLN = Path(sys.executable).parent / "mln"
SECRET = "pytest cluster secret"
TIMING = "heartbeat_interval 0.3\nheartbeat_ttl 1.5\ndaemon_wait 2\n"


class Cluster:
    def __init__(self, root, monkeypatch):
        self.root, self.tag = root, uuid.uuid4().hex[:6]
        self.redis = django_rq.get_connection("default")
        self.processes, self.names = {}, []
        self.transfer = root / "transfer"
        (root / "vmlinuz").write_bytes(b"kernel")
        path = root / "submitter.conf"
        path.write_text(self.common() + f"service_host {self.name('submitter')}\n")
        monkeypatch.setenv("MLN_CONF", str(path))
        self.conf = mlnconf.load()

    def name(self, short):
        return f"{short}-{self.tag}"

    def common(self):
        return (
            f'cluster_secret "{SECRET}"\n{TIMING}transfer {self.transfer}\nkernel {self.root / "vmlinuz"}\n'
            "libvirt_uri test:///default\ndefault_memory 128M\nvncdisplay_range 300-399\n"
        )  # oscourse pins 300

    def conf_of(self, short):
        return mlnconf.load(self.root / short / "mln.conf")

    def start(self, short, extra="guest_memory 8G\n", wait=True):
        """A daemon for service host `<short>-<tag>`; returns its service host name."""
        folder = self.root / short
        folder.mkdir(exist_ok=True)
        name = self.name(short)
        (folder / "mln.conf").write_text(
            self.common() + f"service_host {name}\nprojects {folder / 'projects'}\n"
            f"templates {folder / 'templates'}\nfiles {folder / 'files'}\ndaemon_allow 127.0.0.1 192.168.10.*\n" + extra
        )
        env = {
            **os.environ,
            "MLN_CONF": str(folder / "mln.conf"),
            "MLN_VAR_DIR": str(folder),
            "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
            "LOG_LEVEL": "WARNING",
            # The test process's key: the daemons check its job signatures (no cluster_secret here).
            "SECRET_KEY": settings.SECRET_KEY,
        }
        log = open(folder / "daemon.log", "w")  # noqa: SIM115 - the process writes it after this returns
        self.processes[name] = subprocess.Popen([str(MLN), "daemon"], env=env, stdout=log, stderr=subprocess.STDOUT)
        self.names.append(name)
        if wait:
            self.wait_alive(name)
        return name

    def wait_alive(self, name, seconds=30):
        deadline = time.monotonic() + seconds
        while not heartbeat.is_alive(self.redis, name):
            if self.processes[name].poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"daemon {name} did not come up:\n{self.log(name)}")
            time.sleep(0.1)

    def log(self, name):
        return (self.root / name.rsplit("-", 1)[0] / "daemon.log").read_text()

    def kill(self, name):
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait()

    def stop_all(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        for name in [*self.names, self.conf.service_host]:
            self.redis.delete(heartbeat.ALIVE.format(name))
            self.redis.hdel(heartbeat.LAST, name)
            signing.queue(name).delete(delete_jobs=True)


@pytest.fixture
def cluster(tmp_path, transactional_db, monkeypatch):
    cluster = Cluster(tmp_path, monkeypatch)
    yield cluster
    cluster.stop_all()


@pytest.fixture
def templates(tmp_path, transactional_db):
    """`tiny` and the two templates of the article's oscourse.mln, each a real 16 MiB raw image."""
    made = {}
    for name in ("tiny", "os_linux_1.ext3", "winXP.template"):
        image = tmp_path / "images" / name
        image.parent.mkdir(exist_ok=True)
        subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(image), "16M"], check=True)
        made[name] = Template.register(image, name=name, boot="pv")
    return made
