"""What the pages ask the daemons to do: build, start, stop or remove projects, or one host of one.

One Build per project and service host, each enqueued (signed, on
`mln.<service_host>`) only once the request's transaction commits
(Project.enqueue_build): a page returns at once and never waits for a
daemon. A build first places the hosts that no file placed on a live daemon
(daemon/cluster/placement.py); with no daemon alive at all, the Builds wait on the
queue of this site's own service host (mln.conf `service_host`) for its
daemon to come up.
"""

from django.db import transaction

from projects.choices import Action

# The verbs a page offers; the others (export, import, upgrade, migrate) are the command line's.
PAGE_ACTIONS = {"build": Action.BUILD, "start": Action.START, "stop": Action.STOP, "remove": Action.REMOVE}
STUDENT_ACTIONS = {"start": Action.START, "stop": Action.STOP}


class Refused(Exception):
    """The request cannot be queued; the message says why in plain words."""


def submit(projects, action, requested_by=None, host_name="", conf=None):
    """The Builds of `action` on every project (on one host of each, with `host_name`)."""
    from daemon import conf as mlnconf

    conf = conf or mlnconf.load()
    projects = list(projects)
    if action == Action.BUILD:
        place(projects, conf)
    with transaction.atomic():
        return [project.enqueue_build(action, service_host, host_name,
                                      {"default_service_host": conf.service_host}, requested_by)
                for project in projects for service_host in service_hosts(project, conf, host_name)]


def service_hosts(project, conf, host_name=""):
    hosts = project.spec.get("hosts", {})
    if host_name:
        hosts = {host_name: hosts[host_name]} if host_name in hosts else {}
        if not hosts:
            raise Refused(f"project {project.name} has no host {host_name}")
    return sorted({h.get("service_host") or conf.service_host for h in hosts.values()} or {conf.service_host})


def place(projects, conf):
    from daemon.cluster import dispatch
    from daemon.cluster import heartbeat
    from daemon.cluster import placement

    live = heartbeat.live(dispatch.connection())
    if not live:
        return  # nothing to choose from: the builds wait for this site's own daemon
    try:
        placement.place(projects, live, conf)
    except placement.PlacementError as exc:
        raise Refused(str(exc)) from exc
