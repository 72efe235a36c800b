"""A course across daemons: time to build 60 groups (120 hosts) on 1, 2 and 4 daemons,
and time for `mln upgrade` to plan and cold-migrate one project.

Each daemon is a real `mln daemon` process on libvirt's test driver with its
own mln.conf and service host, sharing Redis and a throwaway SQLite database;
the course is the article's oscourse.mln (Listing 5) with a 60-row table,
expanded by projects.courses and placed by the scheduler.

    .venv/bin/python bench/cluster.py [GROUPS]
"""

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MASTER = ROOT / "tests" / "projects" / "files" / "oscourse.mln"  # the article's Listing 5
MLN = Path(sys.executable).parent / "mln"
TAG = uuid.uuid4().hex[:6]


def common(workdir):
    return (
        f"cluster_secret bench-{TAG}\nheartbeat_interval 1\nheartbeat_ttl 5\ndaemon_wait 10\n"
        f"transfer {workdir / 'transfer'}\nkernel {workdir / 'vmlinuz'}\nlibvirt_uri test:///default\n"
        "vncdisplay_range 300-399\n"
    )  # the article's course pins display 300


def setup(workdir):
    os.environ["MLN_VAR_DIR"] = str(workdir)
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "mlnweb.settings"
    (workdir / "vmlinuz").write_bytes(b"k")
    (workdir / "submitter.conf").write_text(common(workdir) + f"service_host submitter-{TAG}\n")
    os.environ["MLN_CONF"] = str(workdir / "submitter.conf")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from templates_registry.models import Template

    for name in ("os_linux_1.ext3", "winXP.template"):
        image = workdir / name
        subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(image), "16M"], check=True)
        Template.register(image, name=name)


def start_daemons(workdir, count):
    from daemon.cluster import dispatch

    names, processes = [], []
    for n in range(count):
        name = f"bench{count}-{n}-{TAG}"
        folder = workdir / name
        folder.mkdir()
        (folder / "mln.conf").write_text(
            common(workdir) + f"service_host {name}\nprojects {folder / 'projects'}\nguest_memory 64G\n"
        )
        env = {**os.environ, "MLN_CONF": str(folder / "mln.conf"), "LOG_LEVEL": "WARNING"}
        log = open(folder / "daemon.log", "w")  # noqa: SIM115 - the daemon writes it after we return
        processes.append(subprocess.Popen([str(MLN), "daemon"], env=env, stdout=log, stderr=subprocess.STDOUT))
        names.append(name)
    missing = dispatch.wait_for(names, 60)
    assert not missing, f"daemons did not come up: {missing}"
    return names, processes


def stop_daemons(names, processes):
    from daemon.cluster import dispatch, heartbeat, signing

    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)
    redis = dispatch.connection()
    for name in names:
        redis.hdel(heartbeat.LAST, name)
        signing.queue(name).delete(delete_jobs=True)


def course_projects(short_name, groups):
    from projects.courses import expand_course
    from projects.models import Host, Project
    from projects.variable_table import read_table

    rows = "gnum,userpasswd,rpasswd,vncpasswd\n" + "".join(
        f"{n:02d},@random,@random,@random\n" for n in range(1, groups + 1)
    )
    expansion = expand_course(
        short_name, "oscourse.mln", {"oscourse.mln": MASTER.read_text()}, read_table("groups.csv", rows.encode())
    )
    projects = Project.objects.bulk_create(
        Project(name=g.project, source_name=g.source_name, source=g.source, spec=g.spec.to_dict())
        for g in expansion.groups
    )
    Host.objects.bulk_create(r for p in projects for r in p.derived_rows() if isinstance(r, Host))
    return projects


def build_course(workdir, count, groups):
    from collections import Counter

    from daemon import conf
    from daemon.cluster import dispatch
    from projects import actions

    names, processes = start_daemons(workdir, count)
    projects = course_projects(f"c{count}", groups)
    submitter = conf.load()
    started = time.perf_counter()
    builds = dispatch.follow(actions.build_projects(projects, submitter), submitter)
    seconds = time.perf_counter() - started
    failed = [b.error for b in builds if b.status != "succeeded"]
    assert not failed, failed[:3]
    spread = Counter(p.spec["hosts"]["ubuntu"]["service_host"] for p in projects)
    hosts = sum(len(p.spec["hosts"]) for p in projects)
    print(
        f"{count} daemon{'s' if count > 1 else ' '}: {groups} groups, {hosts} hosts built in {seconds:6.2f} s "
        f"(groups per daemon: {sorted(spread.values())})",
        flush=True,
    )
    return names, processes, projects


def upgrade_one(workdir, names, project):
    """Moves one group's project to another daemon, cold: export, remove, import, as `mln upgrade` does."""
    from daemon import conf
    from daemon.cluster import dispatch, heartbeat, upgrade_plan

    source = project.spec["hosts"]["ubuntu"]["service_host"]
    target = next(n for n in names if n != source)
    for host in project.spec["hosts"]:  # the test driver keeps disks in memory; qemu would have written them
        disk = workdir / source / "projects" / project.name / f"{host}.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    new = {**project.spec, "hosts": {n: {**h, "service_host": target} for n, h in project.spec["hosts"].items()}}
    submitter = conf.load()
    started = time.perf_counter()
    plan = upgrade_plan.plan_upgrade(project, new, submitter, heartbeat.live(dispatch.connection()))
    planned = time.perf_counter() - started
    builds = upgrade_plan.apply(project, plan, submitter)
    seconds = time.perf_counter() - started
    assert all(b.status == "succeeded" for b in builds), [b.error for b in builds]
    print(
        f"mln upgrade, one project ({len(new['hosts'])} hosts) moved cold {source} -> {target}: "
        f"plan {planned * 1000:.0f} ms, plan and migrate {seconds:5.2f} s ({len(builds)} Builds)"
    )


def main(groups=60):
    with tempfile.TemporaryDirectory() as workdir:
        workdir = Path(workdir)
        setup(workdir)
        print(f"oscourse.mln, {groups} groups, libvirt test driver, each daemon a `mln daemon` process")
        for count in (1, 2, 4):
            names, processes, projects = build_course(workdir, count, groups)
            if count == 4:
                upgrade_one(workdir, names, projects[0])
            stop_daemons(names, processes)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
