"""What the pages ask the daemons to do: build, start, stop or remove projects, or one host of one.

One Build per project and service host, each enqueued (signed, on
`mln.<service_host>`) only once the request's transaction commits
(Project.enqueue_build): a page returns at once and never waits for a
daemon. A build first places the hosts that no file placed on a live daemon
(projects/placement.py); with no daemon alive at all, the Builds wait on the
queue of this site's own service host (mln.conf `service_host`) for its
daemon to come up.
"""

from django.db import transaction

from daemon import conf as mlnconf
from daemon.cluster import dispatch, heartbeat
from daemon.cluster.builds import Build
from daemon.conf import MlnConf
from projects import placement
from projects.choices import Action

# The verbs a page offers; the others (export, import, upgrade, migrate) are the command line's.
# "stop" is Shut down (ACPI, then power off after mln.conf `shutdown_timeout`), the default way to stop.
PAGE_ACTIONS = {
    "build": Action.BUILD,
    "start": Action.START,
    "stop": Action.STOP,
    "poweroff": Action.POWEROFF,
    "reboot": Action.REBOOT,
    "reset": Action.RESET,
    "remove": Action.REMOVE,
}
STUDENT_ACTIONS = {
    "start": Action.START,
    "stop": Action.STOP,
    "poweroff": Action.POWEROFF,
    "reboot": Action.REBOOT,
    "reset": Action.RESET,
}


class ActionRefused(Exception):
    """The request cannot be queued; the message says why in plain words."""


def submit(projects, action: str, requested_by=None, host_name: str = "", conf: MlnConf | None = None) -> list[Build]:
    """The Builds of `action` on every project (on one host of each, with `host_name`)."""
    conf = conf or mlnconf.load()
    projects = list(projects)
    if action == Action.BUILD:
        place(projects, conf)
    with transaction.atomic():
        return [
            project.enqueue_build(action, service_host, conf, host_name, requested_by, conf.service_host)
            for project in projects
            for service_host in service_hosts(project, conf, host_name)
        ]


def service_hosts(project, conf, host_name=""):
    hosts = project.spec.get("hosts", {})
    if host_name:
        hosts = {host_name: hosts[host_name]} if host_name in hosts else {}
        if not hosts:
            raise ActionRefused(f"project {project.name} has no host {host_name}")
    return sorted({h.get("service_host") or conf.service_host for h in hosts.values()} or {conf.service_host})


def place(projects, conf):
    live = heartbeat.live(dispatch.connection())
    if not live:
        return  # nothing to choose from: the builds wait for this site's own daemon
    try:
        placement.place(projects, live, conf)
    except placement.PlacementError as exc:
        raise ActionRefused(str(exc)) from exc


def build_projects(projects, conf, requested_by=None, wait=None):
    """The command line's build of several projects: places the hosts no file placed
    (projects/placement.py), then submits each project's build once its daemons are alive."""
    placement.place(projects, heartbeat.live(dispatch.connection()), conf)
    return [b for p in projects for b in dispatch.submit(p, Action.BUILD, conf, requested_by=requested_by, wait=wait)]
