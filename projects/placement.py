"""The scheduler: which live daemon builds the hosts that name no `service_host`.

A host that names one goes to that daemon. The others of a project go
together (its switches are libvirt networks of one hypervisor, so a
project's hosts must share one to reach each other) to the live daemon with
the most memory left that still fits them: groups of a course spread over
the daemons, the least loaded first.

Memory left on a daemon: what it offers to guests (mln.conf `guest_memory`,
else libvirt's free memory) less the memory of the hosts of built projects
already placed on it (with libvirt's free memory, only those not running:
running ones are already out of it), less what this round placed. A project
never built holds nothing: a draft asking absurd memory blocks no one. A
host asking more than a daemon could ever offer (`guest_memory`, else all of
its memory) is refused outright.

The choice is written into the project's spec (each host's `service_host`,
so every later job finds its host where it is) and into its Host rows.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Sum

from daemon.agent.plan import MIN_MEMORY
from daemon.conf import MiB
from projects.choices import HostState, ProjectState
from projects.models import Host


class PlacementError(Exception):
    """No live daemon can take a project; the message gives the figures."""


@dataclass
class Daemon:
    service_host: str
    offered: int  # bytes for guests
    placed: int = 0  # bytes of hosts already placed here
    capacity: int = 0  # bytes it could ever give guests

    @property
    def left(self):
        return self.offered - self.placed


def daemons_from(live, projects=()):
    """Daemon rows from heartbeat facts, loaded with what the database already places on each
    (`projects`, being placed now, are counted from their specs instead)."""
    built = (ProjectState.BUILT, ProjectState.RUNNING, ProjectState.STOPPED)
    rows = []
    for name, facts in sorted(live.items()):
        hosts = Host.objects.filter(service_host=name, project__state__in=built)
        hosts = hosts.exclude(project__in=[p.pk for p in projects if p.pk])
        if facts.get("guest_memory"):
            offered = facts["guest_memory"]
        else:
            offered = facts.get("free_memory") or 0
            hosts = hosts.exclude(state=HostState.RUNNING)
        capacity = facts.get("guest_memory") or facts.get("memory") or offered
        rows.append(Daemon(name, offered, hosts.aggregate(total=Sum("memory"))["total"] or 0, capacity))
    return rows


def host_memory(host, conf):
    return max(host.get("memory") or conf.default_memory, MIN_MEMORY)


def unplaced(project):
    return [h for h in project.spec.get("hosts", {}).values() if not h.get("service_host")]


def check_capacity(daemon, need, asking):
    if need > daemon.capacity:
        raise PlacementError(
            f"{asking} {need // MiB} MiB of memory, more than {daemon.service_host} could ever "
            f"offer ({daemon.capacity // MiB} MiB)"
        )


def choose(daemons, need, project_name):
    fitting = [d for d in daemons if d.left >= need]
    if daemons and all(need > d.capacity for d in daemons):
        best = max(daemons, key=lambda d: d.capacity)
        check_capacity(best, need, f"project {project_name}: its hosts without a service_host together ask")
    if not fitting:
        best = max(daemons, key=lambda d: d.left, default=None)
        where = f"; the most is {best.left // MiB} MiB on {best.service_host}" if best else ""
        raise PlacementError(
            f"project {project_name}: no live daemon has {need // MiB} MiB left for its hosts{where}"
            if daemons
            else f"project {project_name}: no live daemon to place its hosts on"
        )
    # Most left first, then the name: the same inputs place the same way.
    return min(fitting, key=lambda d: (-d.left, d.service_host))


def place(projects, live, conf):
    """Places every host without a service_host; returns {project name: service host chosen}."""
    daemons = daemons_from(live, projects)
    by_name = {d.service_host: d for d in daemons}
    for project in projects:  # hosts the files pin weigh on their daemons first
        for host in project.spec.get("hosts", {}).values():
            daemon = by_name.get(host.get("service_host"))
            if daemon:
                check_capacity(daemon, host_memory(host, conf), f"project {project.name}: host {host['name']} asks")
                daemon.placed += host_memory(host, conf)
    chosen = {}
    for project in projects:
        hosts = unplaced(project)
        if not hosts:
            continue
        need = sum(host_memory(h, conf) for h in hosts)
        daemon = choose(daemons, need, project.name)
        daemon.placed += need
        chosen[project.name] = daemon.service_host
    record(projects, chosen)
    return chosen


@transaction.atomic
def record(projects, chosen):
    for project in projects:
        if project.name not in chosen:
            continue
        names = [h["name"] for h in unplaced(project)]
        for host in unplaced(project):
            host["service_host"] = chosen[project.name]
        project.save(update_fields=["spec", "updated_at"])
        Host.objects.filter(project=project, name__in=names).update(service_host=chosen[project.name])
