"""The verbs of the article's Table 1: build, start, stop, status, list, remove,
export, import, and `daemon`, the worker of this service host.

For hosts on this service host the command line runs the job itself and
prints a line per step; for another service host it enqueues the job on that
host's queue (`mln.<service_host>`) and follows its events in the database.

Imports inside the verbs are deliberate: `mln` imports this module to build its
parser before `django.setup()` (projects/cli/__init__.py), so whatever reaches
Django's models is imported once a verb runs, after app loading.
"""

import json
import os
import sys
from pathlib import Path

from projects.cli import CommandError, verb


def register(verbs):
    p = verb(verbs, "build", build, "build a project from a .mln file", needs_django=True)
    p.add_argument("-f", dest="file", required=True, metavar="FILE")
    p.add_argument("-r", dest="rebuild", action="store_true", help="remove the project first, then build it")
    for name, run, help in (("start", start, "start a project's hosts"), ("stop", stop, "stop a project's hosts")):
        p = verb(verbs, name, run, help, needs_django=True)
        p.add_argument("-p", dest="project", required=True, metavar="PROJECT")
        p.add_argument("-h", dest="host", default="", metavar="HOST", help="only this host")
    p = verb(verbs, "status", status, "hosts, their state, addresses and consoles", needs_django=True)
    p.add_argument("-p", dest="project", metavar="PROJECT")
    p.add_argument("--json", action="store_true")
    verb(verbs, "list", list_projects, "the projects and their state", needs_django=True)
    p = verb(verbs, "remove", remove, "remove a project's guests, switches and disks", needs_django=True)
    p.add_argument("-p", dest="project", required=True, metavar="PROJECT")
    p = verb(verbs, "export", export, "a project as a self-contained folder", needs_django=True)
    p.add_argument("-p", dest="project", required=True, metavar="PROJECT")
    p.add_argument("-d", dest="directory", required=True, metavar="DIR")
    p.add_argument("-z", dest="compress", action="store_true", help="compress the disks")
    p = verb(verbs, "import", import_, "a project from an exported folder", needs_django=True)
    p.add_argument("-p", dest="project", required=True, metavar="PROJECT")
    p.add_argument("-d", dest="directory", required=True, metavar="DIR")
    p = verb(verbs, "daemon", daemon, "run this service host's worker", needs_django=True)
    p.add_argument("-D", dest="pidfile", metavar="PIDFILE", help="write the process id here")


def load_conf(args):
    from daemon import conf

    try:
        return conf.load_for_args(args)
    except conf.ConfError as exc:
        raise CommandError(str(exc)) from exc


def get_project(name):
    from projects.models import Project

    try:
        return Project.objects.get(name=name)
    except Project.DoesNotExist:
        raise CommandError(f"no project {name!r}") from None


# --- build ---------------------------------------------------------------------------


def read_project_file(path):
    from projects import lang

    try:
        tree = lang.load(path, include_dirs=())
        return tree, lang.build_spec(tree)
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from exc


def save_project(path, tree, spec):
    """The Project row of a command-line build (no group); a course's project is not ours to change."""
    from projects.models import Project

    project = Project.objects.filter(name=spec.name).first()
    if project and project.group_id:
        raise CommandError(f"project {spec.name} belongs to a course; build it from the course page")
    keep_placement(spec, project.spec if project else {})
    project = project or Project(name=spec.name)
    project.source_name, project.source = Path(path).name, Path(path).read_text()
    project.tree, project.spec = tree, spec.to_dict()
    project.save()
    return project


def keep_placement(spec, old_spec):
    """A host the file leaves unplaced stays where the scheduler put it last time: its guest is there."""
    placed = {name: h.get("service_host") for name, h in old_spec.get("hosts", {}).items()}
    for name, host in spec.hosts.items():
        host.service_host = host.service_host or placed.get(name)


def place_unpinned(project, conf):
    """Hosts without a service host go where the scheduler says when daemons are alive.

    With none (one machine and no `mln daemon`), they are this service host's,
    as in the article, and the command line builds them itself.
    """
    from redis.exceptions import ConnectionError as RedisDown

    from daemon.cluster import dispatch, heartbeat
    from projects import placement

    if not placement.unplaced(project):
        return
    try:
        live = heartbeat.live(dispatch.connection())
    except RedisDown:
        return
    if live:
        try:
            placement.place([project], live, conf)
        except placement.PlacementError as exc:
            raise CommandError(str(exc)) from exc


def build(args):
    from projects.choices import Action

    conf = load_conf(args)
    tree, spec = read_project_file(args.file)
    project = save_project(args.file, tree, spec)
    place_unpinned(project, conf)
    return run_on_service_hosts(project, Action.REBUILD if args.rebuild else Action.BUILD, conf)


def start(args):
    from projects.choices import Action

    return run_on_service_hosts(get_project(args.project), Action.START, load_conf(args), args.host)


def stop(args):
    from projects.choices import Action

    return run_on_service_hosts(get_project(args.project), Action.STOP, load_conf(args), args.host)


def remove(args):
    from projects.choices import Action
    from projects.models import Project

    conf = load_conf(args)
    if not Project.objects.filter(name=args.project).exists():
        return remove_orphan(args.project, conf)
    return run_on_service_hosts(get_project(args.project), Action.REMOVE, conf)


def remove_orphan(name, conf):
    """A project MLN made in this host's libvirt whose row is gone: removed by libvirt's records alone
    (its metadata and the folders MLN marked for it), never anything else."""
    from daemon.agent import actions, steps
    from daemon.agent.hypervisor import Hypervisor, HypervisorError

    try:
        with Hypervisor(conf.libvirt_uri) as hypervisor:
            if name not in hypervisor.mln_projects():
                raise CommandError(f"no project {name!r}: no row, and nothing MLN made for it in {conf.libvirt_uri}")
            print(f"{name}: no row; removing what libvirt holds for it ({conf.libvirt_uri})")
            actions.run(steps.orphan_removal(name, conf, hypervisor, PrintedEvents()))
    except (*steps.EXPECTED, steps.StepFailed) as exc:
        print(f"mln: error: remove {name}: {exc}", file=sys.stderr)
        return 1
    except HypervisorError as exc:
        raise CommandError(str(exc)) from exc
    return 0


class PrintedEvents:
    """A job's events printed as they come, for a job with no Build to record them (an orphan's)."""

    def add(self, step, message, host, level, done, total):
        from types import SimpleNamespace

        print_event(SimpleNamespace(step=step, message=message, host_name=host, level=level, done=done, total=total))

    def flush(self):
        pass


def export(args):
    from projects.choices import Action

    options = {"directory": str(Path(args.directory).resolve()), "compress": args.compress}
    return run_here(get_project(args.project), Action.EXPORT, load_conf(args), options=options)


def import_(args):
    from daemon.agent import archive
    from projects import project_import
    from projects.choices import Action

    conf = load_conf(args)
    try:
        project, previous = project_import.project_from_folder(args.project, args.directory, conf)
    except archive.ArchiveError as exc:
        raise CommandError(str(exc)) from exc
    failed = run_here(project, Action.IMPORT, conf, options={"directory": str(Path(args.directory).resolve())})
    if failed:  # the job undid what it made on this host; the rows written above go too
        project_import.undo_import(project, previous)
    return failed


# --- running and following jobs --------------------------------------------------------------


def service_hosts(project, conf):
    hosts = project.spec.get("hosts", {}).values()
    return sorted({h.get("service_host") or conf.service_host for h in hosts} or {conf.service_host})


def run_on_service_hosts(project, action, conf, host_name=""):
    if host_name and host_name not in project.spec.get("hosts", {}):
        raise CommandError(f"project {project.name} has no host {host_name}")
    failed = 0
    for service_host in service_hosts(project, conf):
        if host_name and (project.spec["hosts"][host_name].get("service_host") or conf.service_host) != service_host:
            continue
        failed += run_here(project, action, conf, host_name, service_host=service_host)
    return 1 if failed else 0


def run_here(project, action, conf, host_name="", options=None, service_host=None):
    """Runs the job in-process for this service host, or enqueues and follows it for another.

    Another host's daemon gets `daemon_wait` seconds to be alive, and a daemon
    that dies while its job waits fails the job: the command always ends.
    """
    from daemon.cluster import builds, dispatch, runner

    service_host = service_host or conf.service_host
    if service_host == conf.service_host:
        build = builds.submit(
            project, action, service_host, default_service_host=conf.service_host, host_name=host_name, options=options
        )
        return report(runner.run(build, conf, progress=print_event))
    print(f"{project.name}: {action} queued on mln.{service_host}")
    builds = dispatch.submit(project, action, conf, [service_host], host_name, options)
    [build] = dispatch.follow(builds, conf, on_event=print_event)
    return report(build)


def print_event(event):
    where = f" {event.host_name}" if event.host_name else ""
    progress = f"[{event.done}/{event.total}] " if event.total else ""
    stream = sys.stderr if event.level != "info" else sys.stdout
    print(f"{progress}{event.step}{where}: {event.message}", file=stream, flush=True)


def report(build):
    from projects.choices import BuildStatus

    if build.status == BuildStatus.FAILED:
        print(f"mln: error: {build.action} {build.project.name}: {build.error}", file=sys.stderr)
        return 1
    return 0


# --- status and list -----------------------------------------------------------------------


def status(args):
    from projects.models import Project

    conf = load_conf(args)
    projects = [get_project(args.project)] if args.project else list(Project.objects.all())
    refresh_local_hosts(projects, conf)
    rows = [host_status(h) for p in projects for h in p.hosts.all()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows, ["project", "host", "state", "memory", "addresses", "vnc", "service_host"])
    return 0


def refresh_local_hosts(projects, conf):
    """Hosts of this service host are asked of libvirt; others are as their daemon last said."""
    from daemon.agent import reports
    from daemon.agent.hypervisor import Hypervisor, HypervisorError
    from projects.lang.spec import ProjectSpec

    try:
        with Hypervisor(conf.libvirt_uri) as hypervisor:
            for project in projects:
                if project.spec:
                    spec = ProjectSpec.from_dict(project.spec)
                    project.record_hosts(
                        reports.host_reports(spec, hypervisor, conf.service_host),
                        reports.switch_reports(spec, conf.service_host),
                    )
    except HypervisorError as exc:
        print(f"mln: warning: {exc}; showing the last known states", file=sys.stderr)


def host_status(host):
    display = host.vnc_port - 5900 if host.vnc_port else None
    return {
        "project": host.project.name,
        "host": host.name,
        "state": host.state,
        "memory": f"{host.memory // (1024 * 1024)}M" if host.memory else "",
        "addresses": host.addresses,
        "vnc": f"{host.service_host}:{display}" if display is not None else "",
        "vnc_port": host.vnc_port,
        "service_host": host.service_host,
    }


def print_table(rows, columns):
    cells = [[cell(row[c]) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    for line in [columns, *cells]:
        print("  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip())


def cell(value):
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return "" if value is None else str(value)


def list_projects(args):
    from projects.models import Project

    rows = [
        {
            "project": p.name,
            "state": p.state,
            "hosts": len(p.spec.get("hosts", {})),
            "course": str(p.group) if p.group_id else "",
        }
        for p in Project.objects.select_related("group__course")
    ]
    rows += [
        {"project": name, "state": "orphan: no row (mln remove -p removes it)", "hosts": hosts, "course": ""}
        for name, hosts in orphans(load_conf(args), {r["project"] for r in rows}).items()
    ]
    print_table(rows, ["project", "state", "hosts", "course"])
    return 0


def orphans(conf, known):
    """{project: its domains here} of what MLN made in this host's libvirt for projects with no row."""
    from daemon.agent.hypervisor import Hypervisor, HypervisorError

    try:
        with Hypervisor(conf.libvirt_uri) as hypervisor:
            names = sorted(hypervisor.mln_projects() - known)
            return {name: len(hypervisor.project_objects(name).domains) for name in names}
    except HypervisorError as exc:
        print(f"mln: warning: {exc}; projects without a row are not listed", file=sys.stderr)
        return {}


# --- the daemon -------------------------------------------------------------------------------


def daemon(args):
    import django_rq

    from daemon.cluster import worker

    conf = load_conf(args)
    if args.pidfile:
        Path(args.pidfile).write_text(f"{os.getpid()}\n")
    print(
        f"mln daemon: service host {conf.service_host}, queue {conf.queue_name}, libvirt {conf.libvirt_uri}", flush=True
    )
    worker.serve(conf, django_rq.get_connection("default"))
    return 0
