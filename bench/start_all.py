"""Start all: a 20-group course's "start" on one daemon, beside a plain parallel `virsh start`.

A course of GROUPS groups, one tiny guest each, is uploaded and built through
the product (a real `mln daemon` on qemu:///system with `jobs_in_parallel`
from the command line, default 4: what mln.conf would say). Then, in the same
run and taking turns to go first:

- ours: the course page's "start" (projects.actions.submit, one Build per
  group, signed and queued), until every guest's serial log says GUEST-UP;
- plain: a shell script that starts the same domains with `virsh start`, all
  at once (one background process each), until the same lines.

Between runs every guest is powered off, removed and built again (not timed): each run is a
first boot of freshly built guests.
Target: ours within 1.3 times the plain script (median of the rounds).

    .venv/bin/python bench/start_all.py [--groups N] [--jobs J] [--rounds R]

Everything lives in a throwaway folder, database, Redis queue (service host
`bench-<random>`) and mln.conf under var/, and is removed at the end, guests
included, even when a step fails.
"""

import argparse
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MLN = Path(sys.executable).parent / "mln"
QEMU = "qemu:///system"
TEMPLATES = ROOT / "var" / "templates"
UP_TIMEOUT = 600
MASTER = "host pc {\n    template tiny\n    memory 96M\n}\n"


def virsh(*args):
    return subprocess.run(["virsh", "-q", "-c", QEMU, *args], capture_output=True, text=True)


class Bench:
    def __init__(self, workdir, groups, jobs):
        self.workdir, self.groups = workdir, groups
        self.service_host = f"bench-{secrets.token_hex(3)}"
        self.short = f"sa{secrets.token_hex(2)}"
        kernel = sorted(Path("/boot").glob("vmlinuz-*"))[-1]
        self.conf = workdir / "mln.conf"
        self.conf.write_text(
            f"projects {workdir / 'projects'}\ntemplates {workdir / 'templates'}\nfiles {workdir / 'files'}\n"
            f"libvirt_uri {QEMU}\nkernel {kernel}\ninitrd {TEMPLATES / 'tiny-initrd.img'}\n"
            f"service_host {self.service_host}\njobs_in_parallel {jobs}\nheartbeat_interval 1\n"
            f'cluster_secret "{secrets.token_hex(16)}"\n'
        )
        os.environ.update(
            MLN_VAR_DIR=str(workdir),
            MLN_CONF=str(self.conf),
            DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
            DJANGO_SETTINGS_MODULE="mlnweb.settings",
        )
        if not os.environ.get("SECRET_KEY"):
            os.environ.setdefault("SECRET_KEY_FILE", str(ROOT / "var" / "secret_key"))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self.daemon = None
        self.projects = []

    def start_daemon(self):
        from daemon.cluster import dispatch, heartbeat

        log = open(self.workdir / "daemon.log", "w")  # noqa: SIM115 - the daemon writes it until it stops
        self.daemon = subprocess.Popen([str(MLN), "daemon"], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not heartbeat.is_alive(dispatch.connection(), self.service_host):
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mln daemon did not come up:\n{(self.workdir / 'daemon.log').read_text()}")
            time.sleep(0.2)

    def make_course(self):
        from django.contrib.auth.models import User

        from projects.courses import CourseInputs
        from projects.models import Course, Project
        from templates_registry.models import Template

        Template.register(TEMPLATES / "tiny.ext4", name="tiny", boot="pv")
        owner = User.objects.create_user(f"bench-{secrets.token_hex(3)}")
        table = "n\n" + "".join(f"{n}\n" for n in range(1, self.groups + 1))
        inputs = CourseInputs("lab.mln", {"lab.mln": MASTER}, "groups.csv", table.encode())
        course = Course.objects.create(name="start all", short_name=self.short, owner=owner, master_name="lab.mln")
        course.apply(inputs)
        self.projects = list(Project.objects.filter(group__course=course).order_by("name"))
        self.act("build")
        self.domains = [f"{p.name}.pc" for p in self.projects]
        self.logs = [self.workdir / "projects" / p.name / "pc.console.log" for p in self.projects]

    def mln_conf(self):
        from daemon import conf

        return conf.load(self.conf)

    # --- the two ways ---------------------------------------------------------------------

    def ours(self):
        from daemon.cluster import dispatch
        from projects import actions

        conf = self.mln_conf()
        started, offsets = time.perf_counter(), self.offsets()
        queued = actions.submit(self.projects, "start", conf=conf)
        jobs = dispatch.follow(queued, conf, poll=0.1)
        commands = time.perf_counter() - started
        failed = [f"{b.project.name}: {b.error}" for b in jobs if b.status != "succeeded"]
        if failed:
            raise RuntimeError("start failed: " + "; ".join(failed))
        return commands, self.wait_up(offsets, started)

    def plain(self):
        script = self.workdir / "plain.sh"
        script.write_text("".join(f"virsh -q -c {QEMU} start {d} > /dev/null &\n" for d in self.domains) + "wait\n")
        started, offsets = time.perf_counter(), self.offsets()
        subprocess.run(["sh", str(script)], check=True)
        commands = time.perf_counter() - started
        return commands, self.wait_up(offsets, started)

    def reset(self):
        """Every guest powered off, removed and built again (not timed): each run is a first boot."""
        for domain in self.domains:
            virsh("destroy", domain)
        self.act("remove")
        self.act("build")

    def act(self, action):
        from daemon.cluster import dispatch
        from projects import actions

        conf = self.mln_conf()
        done = dispatch.follow(actions.submit(self.projects, action, conf=conf), conf)
        failed = [f"{b.project.name}: {b.error}" for b in done if b.status != "succeeded"]
        if failed:
            raise RuntimeError(f"{action} failed: " + "; ".join(failed))

    # --- guests up ------------------------------------------------------------------------

    def offsets(self):
        return [log.stat().st_size if log.exists() else 0 for log in self.logs]

    def wait_up(self, offsets, started):
        """Seconds from `started` until every serial log says GUEST-UP after where it was."""
        waiting = dict(zip(self.logs, offsets, strict=True))
        while waiting:
            for log, offset in list(waiting.items()):
                if log.exists():
                    with open(log, "rb") as file:
                        file.seek(offset)
                        if b"GUEST-UP" in file.read():
                            del waiting[log]
            if time.perf_counter() - started > UP_TIMEOUT:
                raise RuntimeError(f"no GUEST-UP from {len(waiting)} guests in {UP_TIMEOUT} s")
            time.sleep(0.1)
        return time.perf_counter() - started

    # --- the end --------------------------------------------------------------------------

    def clean(self):
        from daemon.agent.hypervisor import Hypervisor
        from daemon.cluster import dispatch, signing
        from projects import actions

        if self.projects and self.daemon and self.daemon.poll() is None:
            try:
                conf = self.mln_conf()
                dispatch.follow(actions.submit(self.projects, "remove", conf=conf), conf)
            except Exception as exc:  # noqa: BLE001 -- the by-hand part below must run all the same
                print(f"remove: {exc!r}")
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
        with Hypervisor(QEMU) as hypervisor:  # whatever is left of this bench's projects, and only of them
            for project in self.projects:
                objects = hypervisor.project_objects(project.name)
                for domain in objects.domains:
                    virsh("destroy", domain)
                    virsh("undefine", domain)
                for network in objects.networks:
                    virsh("net-destroy", network)
                    virsh("net-undefine", network)
                for pool in objects.pools:
                    virsh("pool-destroy", pool)
                    virsh("pool-undefine", pool)
        signing.queue(self.service_host).delete(delete_jobs=True)


def run(bench, rounds):
    print(f"start all: {bench.groups} groups, one tiny guest each, on {QEMU}; from the click to every GUEST-UP")
    print("(commands: until every start had returned; the rest is the guests booting)")
    figures = {"ours": [], "plain": []}
    ways = [("ours", bench.ours), ("plain", bench.plain)]
    for turn in range(rounds):
        for label, way in ways if turn % 2 == 0 else ways[::-1]:  # either goes first in turn
            try:
                commands, up = way()
            finally:
                bench.reset()
            figures[label].append(up)
            print(f"{label:<8} {up:6.2f} s  (commands {commands:5.2f} s)", flush=True)
    # Each round's two runs are next to each other in time: the median of the rounds' ratios is the figure.
    ratios = [o / p for o, p in zip(figures["ours"], figures["plain"], strict=True)]
    print(
        f"{'ratio':<8} {statistics.median(ratios):6.2f}  (ours / plain script, median of {rounds} rounds: "
        + " ".join(f"{r:.2f}" for r in ratios)
        + "; target within 1.3)"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=20, help="groups of the course, one tiny guest each")
    parser.add_argument("--jobs", type=int, default=4, help="the daemon's jobs_in_parallel")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each way, taking turns to go first")
    args = parser.parse_args(argv)
    # Under var/, world-readable: libvirt's qemu user opens the guests' files (not a 0700 tmp folder).
    workdir = Path(tempfile.mkdtemp(prefix="bench-start-all-", dir=ROOT / "var"))
    workdir.chmod(0o755)
    bench = None
    try:
        subprocess.run(
            [str(ROOT / "templates_registry" / "tiny" / "build.sh"), str(TEMPLATES)], check=True, capture_output=True
        )
        bench = Bench(workdir, args.groups, args.jobs)
        bench.start_daemon()
        bench.make_course()
        run(bench, args.rounds)
    finally:
        if bench is not None:
            bench.clean()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
