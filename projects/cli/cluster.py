"""The cluster's verbs: `daemon_status` (the article's) and `upgrade`.

Imports inside the verbs are deliberate: `mln` imports this module to build its
parser before `django.setup()` (projects/cli/__init__.py), so whatever reaches
Django's models is imported once a verb runs, after app loading.
"""

import json
import sys
from pathlib import Path

from projects.cli import CommandError, verb


def register(verbs):
    p = verb(
        verbs,
        "daemon_status",
        daemon_status,
        "the daemons of the cluster: alive, last heartbeat, facts",
        needs_django=True,
    )
    p.add_argument("--json", action="store_true")
    p = verb(
        verbs,
        "upgrade",
        upgrade,
        "change a built project to a new version of its file; moves hosts whose service_host changed",
        needs_django=True,
    )
    p.add_argument("-f", dest="file", required=True, metavar="FILE")
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")


def redis():
    import django_rq
    from redis.exceptions import RedisError

    connection = django_rq.get_connection("default")
    try:
        connection.ping()
    except RedisError as exc:
        raise CommandError(f"cannot reach Redis: {exc}") from exc
    return connection


def mib(value):
    return f"{value // (1024 * 1024)}M" if value else ""


def status_row(status):
    f = status.facts
    kvm = "used" if f.get("kvm_used") else "offered" if f.get("kvm_offered") else "no" if f else ""
    return {
        "service_host": status.service_host,
        "alive": "yes" if status.alive else "no",
        "last_heartbeat": f"{status.age:.1f} s ago" if status.age is not None else "never",
        "hypervisor": f.get("hypervisor", ""),
        "libvirt_uri": f.get("libvirt_uri", ""),
        "kvm": kvm,
        "cpus": f.get("cpus", ""),
        "free_memory": mib(f.get("free_memory")),
        "guest_memory": mib(f.get("guest_memory")),
        "running": f.get("running_domains", ""),
    }


def daemon_status(args):
    from daemon.cluster import heartbeat
    from projects.cli.lifecycle import load_conf, print_table

    conf = load_conf(args)
    rows = [status_row(s) for s in heartbeat.statuses(redis(), conf.daemon_status_query)]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif rows:
        print_table(rows, list(rows[0]))
    else:
        print("no daemon has sent a heartbeat, and mln.conf names none (daemon_status_query)")
    return 0


def upgrade(args):
    from daemon.cluster import heartbeat
    from daemon.cluster import upgrade_plan as upgrading
    from projects.cli.lifecycle import get_project, load_conf, print_event, read_project_file

    conf = load_conf(args)
    tree, spec = read_project_file(args.file)
    project = get_project(spec.name)
    try:
        plan = upgrading.plan_upgrade(project, spec, conf, heartbeat.live(redis()))
    except upgrading.UpgradeError as exc:
        raise CommandError(str(exc)) from exc
    for line in plan.lines():
        print(line)
    if args.dry_run or not plan:
        return 0
    if project.group_id:
        raise CommandError(f"project {project.name} belongs to a course; upgrade it from the course page")
    try:
        upgrading.apply(project, plan, conf, on_event=print_event)
    except upgrading.UpgradeError as exc:
        raise CommandError(f"upgrade {project.name}: {exc}") from exc
    project.source = Path(args.file).read_text()
    project.tree = tree
    project.save(update_fields=["source", "tree", "updated_at"])
    print(f"{project.name}: upgraded", file=sys.stderr)
    return 0
