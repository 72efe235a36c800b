"""`mln upgrade`: what a new version of a project's file changes, and doing it.

`plan_upgrade` compares the built project's spec with the new one: hosts and
switches to add or remove, settings that change (memory, vcpus, NICs, and
the others a guest reads), and hosts that move because their `service_host`
changed, each live or cold with the reason. A host the new file leaves
without a `service_host` stays where the scheduler put it; a new one joins
the service host that holds most of the project (its switches are there).

`steps` makes the plan a chain of Builds (daemon/cluster/chains.py) that the daemons
run one after another by themselves: cold moves first export their hosts on
the source (a `migrate` Build), then an `upgrade` Build on every service host
involved removes, redefines and adds (the first of them stores the new spec
as it starts), and each moved host arrives on its target (a `migrate` Build
that imports it, or a live migration from the source that the target then
confirms). `queue` is the portal's, which cannot wait; `apply` is
`mln upgrade`'s, which queues the same chain and follows it. The `upgrade`
job itself (`upgrade_project`) runs on a daemon like any other.
"""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from daemon.cluster import builds, chains, dispatch, heartbeat
from daemon.conf import MiB
from projects.choices import Action

# Settings a change list shows; the masked ones are students' passwords.
SETTINGS = ("memory", "vcpus", "interfaces", "template", "size", "nameserver", "users", "root_passwd", "vncpasswd")
MASKED = {"users", "root_passwd", "vncpasswd"}
# Applied by redefining the domain; the others reach the guest through its configuration seed.
REDEFINED = {"memory", "vcpus", "interfaces"}
LIVE_DRIVERS = {"QEMU"}


class UpgradeError(Exception):
    """The upgrade cannot go on; the message says which step and host."""


@dataclass
class Change:
    host: str
    setting: str
    old: object
    new: object

    def __str__(self):
        when = "redefined, from the next start" if self.setting in REDEFINED else "from the next build of its seed"
        return (
            f"change {self.host}: {label(self.setting)} {shown(self.setting, self.old)} -> "
            f"{shown(self.setting, self.new)} ({when})"
        )


@dataclass
class Move:
    host: str
    source: str
    target: str
    mode: str  # live or cold
    reason: str

    def __str__(self):
        return f"move {self.host}: {self.source} -> {self.target}, {self.mode} ({self.reason})"


@dataclass
class UpgradePlan:
    project: str
    old: dict
    new: dict  # the new spec, every host placed
    add_hosts: list = field(default_factory=list)
    remove_hosts: list = field(default_factory=list)
    add_switches: list = field(default_factory=list)
    remove_switches: list = field(default_factory=list)
    changes: list = field(default_factory=list)
    moves: list = field(default_factory=list)

    def __bool__(self):
        return any(
            (self.add_hosts, self.remove_hosts, self.add_switches, self.remove_switches, self.changes, self.moves)
        )

    def lines(self):
        where = {n: h["service_host"] for n, h in self.new["hosts"].items()}
        out = [f"add host {h} on {where[h] or 'a daemon the scheduler picks'}" for h in self.add_hosts]
        out += [f"remove host {h}" for h in self.remove_hosts]
        out += [f"add switch {s}" for s in self.add_switches] + [f"remove switch {s}" for s in self.remove_switches]
        out += [str(c) for c in self.changes] + [str(m) for m in self.moves]
        return [f"{self.project}: {line}" for line in out] or [f"{self.project}: nothing to change"]

    @property
    def service_hosts(self):
        """Every service host the project is on, before or after."""
        return sorted(
            {
                h["service_host"]
                for spec in (self.old, self.new)
                for h in spec["hosts"].values()
                if h.get("service_host")
            }
        )


def label(setting):
    return "NICs" if setting == "interfaces" else setting


def shown(setting, value):
    if setting in MASKED:
        return "(set)" if value else "(none)"
    if setting in ("memory", "size") and value:
        return f"{value // MiB}M"
    if setting == "interfaces":
        return (
            "; ".join(f"{i['name']} {i.get('switch') or '-'} {i.get('address') or ''}".strip() for i in value) or "none"
        )
    return value


# --- planning ---------------------------------------------------------------------------


def plan_upgrade(project, new_spec, conf, live=None, host_states=None):
    """The plan from the built project to `new_spec` (a ProjectSpec or its dict)."""
    old = project.spec
    new = new_spec if isinstance(new_spec, dict) else new_spec.to_dict()
    if new["name"] != project.name:
        raise UpgradeError(f"the file is project {new['name']}, not {project.name}")
    new = placed(old, new, conf)
    states = host_states if host_states is not None else dict(project.hosts.values_list("name", "state"))
    plan = UpgradePlan(project.name, old, new)
    old_hosts, new_hosts = old["hosts"], new["hosts"]
    plan.add_hosts = [h for h in new_hosts if h not in old_hosts]
    plan.remove_hosts = [h for h in old_hosts if h not in new_hosts]
    plan.add_switches = [s for s in new["switches"] if s not in old["switches"]]
    plan.remove_switches = [s for s in old["switches"] if s not in new["switches"]]
    for name in (h for h in new_hosts if h in old_hosts):
        before, after = old_hosts[name], new_hosts[name]
        plan.changes += [
            Change(name, s, before.get(s), after.get(s))
            for s in SETTINGS
            if comparable(before.get(s)) != comparable(after.get(s))
        ]
        if before.get("service_host") and before["service_host"] != after["service_host"]:
            mode, reason = migration_mode(
                after, before["service_host"], after["service_host"], live or {}, states.get(name)
            )
            plan.moves.append(Move(name, before["service_host"], after["service_host"], mode, reason))
    return plan


def comparable(value):
    if isinstance(value, list):  # interfaces: what the guest and libvirt see, not where the file said it
        return [{k: v for k, v in i.items() if k != "settings"} for i in value]
    return value


def placed(old, new, conf):
    """`new` with every host on a service host: where it is now, or where most of the project is."""
    new = {**new, "hosts": {n: dict(h) for n, h in new["hosts"].items()}}
    homes = Counter(h["service_host"] for h in old["hosts"].values() if h.get("service_host"))
    home = homes.most_common(1)[0][0] if homes else None  # None: the scheduler places it at its build
    for name, host in new["hosts"].items():
        if not host.get("service_host"):
            was = old["hosts"].get(name, {}).get("service_host")
            host["service_host"] = was or home
    return new


def migration_mode(host, source, target, live, state):
    """("live", why) where both hypervisors can and the disks are on storage both reach; else cold."""
    problems = []
    a, b = live.get(source), live.get(target)
    if a is None or b is None:
        problems.append(f"{source if a is None else target} has no live daemon")
    else:
        drivers = {a["hypervisor"], b["hypervisor"]}
        if not drivers <= LIVE_DRIVERS:
            problems.append(f"libvirt's {'/'.join(sorted(drivers))} driver cannot migrate")
        if not (a.get("migration_uri") and b.get("migration_uri")):
            problems.append("mln.conf gives no migration_uri on both")
        problems += shared_storage_problems(host, a, b)
    if state != "running":
        problems.append("the host is not running")
    if problems:
        return "cold", "; ".join(problems)
    return "live", f"peer to peer, disks on {a['san_path']}"


def shared_storage_problems(host, a, b):
    """Live migration moves memory, not disks: both hosts must reach the disk at the same path."""
    san = a.get("san_path")
    if not san or san != b.get("san_path"):
        return ["no san_path common to both service hosts"]
    wants_shared = (host.get("filepath") and Path(host["filepath"]).is_relative_to(san)) or (
        host.get("lvm") and (host.get("lvm_vg") or a.get("lvm_vg")) and a.get("lvm_vg") == b.get("lvm_vg")
    )
    if not wants_shared:
        return [f"its disk is not on shared storage (filepath under {san}, or lvm on a volume group both have)"]
    if a.get("projects") != b.get("projects") or not Path(a.get("projects", "/")).is_relative_to(san):
        return [f"the daemons' projects folders are not one folder under {san}"]
    return []


# --- applying ---------------------------------------------------------------------------


def steps(project, plan, conf):
    """The plan as a chain of steps (daemon/cluster/chains.py), in the order they must run."""
    transfer = Path(conf.transfer)
    cold = [m for m in plan.moves if m.mode == "cold"]
    live = [m for m in plan.moves if m.mode == "live"]
    moving = [m.host for m in plan.moves]
    rows = {h.name: h for h in project.hosts.all()}  # now: the source forgets them on the way
    out = []
    for move in cold:  # first of all, each host is exported and leaves its source
        out.append(
            chains.Step(
                f"export {move.host} from {move.source}",
                Action.MIGRATE_OUT,
                move.source,
                move.host,
                {"hosts": [move.host], "directory": str(transfer / f"{project.name}.{move.host}")},
            )
        )
    for i, service_host in enumerate(plan.service_hosts or [conf.service_host]):  # unplaced: the submitter's
        switch = {"spec": plan.new} if i == 0 else {}  # the first upgrade stores the new spec, once
        out.append(
            chains.Step(
                f"upgrade on {service_host}", Action.UPGRADE, service_host, options={"without": moving, **switch}
            )
        )
    for move in cold:
        row = rows.get(move.host)
        out.append(
            chains.Step(
                f"import {move.host} on {move.target}",
                Action.MIGRATE_IN,
                move.target,
                move.host,
                {
                    "directory": str(transfer / f"{project.name}.{move.host}"),
                    "vnc_password": row.vnc_password if row else "",
                    "start": bool(row and row.state == "running"),
                },
            )
        )
    for move in live:
        out.append(
            chains.Step(
                f"migrate {move.host} to {move.target}",
                Action.MIGRATE_LIVE,
                move.source,
                move.host,
                {"hosts": [move.host], "peer_uri": dispatch_peer_uri(move.target)},
            )
        )
        out.append(
            chains.Step(
                f"{move.host} on {move.target}", Action.MIGRATE_ARRIVED, move.target, move.host, {"hosts": [move.host]}
            )
        )
    return out


def queue(project, plan, conf, requested_by=None):
    """The plan's chain of Builds, its jobs enqueued once the current transaction commits (none: at once)."""
    chain = chains.create(project, steps(project, plan, conf), conf, requested_by)
    transaction.on_commit(lambda: chains.enqueue(chain, conf))
    return chain


def apply(project, plan, conf, on_event=None):
    """`mln upgrade`: queues the plan's chain once every daemon is alive, and follows it; returns its Builds.

    UpgradeError names the step that failed (the Builds after it are failed, not run).
    """
    chain = chains.create(project, steps(project, plan, conf), conf)
    missing = dispatch.wait_for(sorted({b.service_host for b in chain}), conf.daemon_wait)
    if missing:  # as dispatch.submit: all of its daemons alive, or nothing starts
        builds.fail_queued(chain[0].pk, dispatch.down_reason(missing, conf.daemon_wait, dispatch.connection()))
    else:
        chains.enqueue(chain, conf)
    dispatch.follow(chain, conf, on_event=on_event)
    failed = [b for b in chain if b.status == "failed"]
    if failed:
        raise UpgradeError(f"{failed[0].step}: {failed[0].error}")
    return chain


def dispatch_peer_uri(service_host):
    facts = heartbeat.live(dispatch.connection()).get(service_host)
    if not facts or not facts.get("migration_uri"):
        raise UpgradeError(f"service host {service_host}: no live daemon with a migration_uri")
    return facts["migration_uri"]


def course_plans(course, inputs, conf, live=None):
    """{project name: UpgradePlan} for the groups a new version of a course changes (the portal's view)."""
    expansion = course.expand(inputs)
    projects = {g.project.name: g.project for g in course.groups_with_projects()}
    return {
        g.project: plan_upgrade(projects[g.project], g.spec, conf, live)
        for g in expansion.groups
        if g.project in projects
    }
