"""The steps of a job on this service host: build, rebuild, start, stop, remove, export, import,
upgrade and the four sides of a migration.

A step function takes a `Job`: what to do (`JobOrder`, read off the Build by
daemon/cluster/runner.py), the project's `ProjectSpec`, this host's mln.conf,
an open Hypervisor and the event log to report to. It never reads or writes
the database: the runner records what libvirt says afterwards
(daemon/agent/reports.py) and the project state a step leaves in
`job.project_state`.

Every step is idempotent (it makes only what is missing), so a job run twice,
or run again after the daemon was killed half-way, converges on the same
guests. A job that fails undoes what this run made, in reverse order, so a
failed build leaves nothing running or half-made; a killed one leaves what it
made for the next run to adopt or `mln remove` to delete.
"""

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from daemon import conf as mlnconf
from daemon.agent import guest_config, libvirt_xml, storage
from daemon.agent.errors import ArchiveError, JobError
from daemon.agent.hypervisor import HypervisorError
from daemon.agent.plan import PlanError, display_in_use, plan_project
from projects.choices import Action, EventLevel, ProjectState
from projects.lang.spec import HostSpec, ProjectSpec


class StepFailed(Exception):
    def __init__(self, step, host, reason):
        super().__init__(f"{step}{' ' + host if host else ''}: {reason}")


# What a step's event says: (it changed something, it found the work done).
MADE = ("made", "already there")
REMOVED = ("removed", "already gone")
STARTED = ("started", "already running")
STOPPED = ("stopped", "already stopped")

EXPECTED = (
    JobError,
    ArchiveError,
    PlanError,
    HypervisorError,
    guest_config.GuestConfigError,
    mlnconf.ConfError,
    storage.FolderError,
    OSError,
)


@dataclass
class JobOrder:
    """What a Build asks of this service host, and what the project was when it was asked."""

    action: str
    service_host: str
    default_service_host: str = ""  # where the project's unplaced hosts live
    host_name: str = ""  # one host only, or all
    options: dict = field(default_factory=dict)  # the action's own parameters
    source: str = ""  # the project's .mln (an export writes it)
    project_state: str = ""  # the project's state as the job starts


class Job:
    """One run of one job: its steps, their events, and the undo of what it made."""

    def __init__(self, order: JobOrder, spec: ProjectSpec, conf: mlnconf.MlnConf, hypervisor, events, images: dict):
        """`events`: anything with `add(step, message, host, level, done, total)` and `flush()`;
        `images`: the registered templates, name -> plan.Image."""
        self.order, self.spec, self.conf, self.hv, self.events = order, spec, conf, hypervisor, events
        self.images = images
        self.project_state = None  # what the project is once this job has succeeded, if it changes
        self.undo = []
        self.done = self.total = 0

    def event(self, step, message="", host="", level=EventLevel.INFO):
        return self.events.add(step, message, host, level, self.done, self.total)

    def warn(self, host, message):
        self.event("warning", message, host, EventLevel.WARNING)

    def step(self, step, host, action, undo=None, message="", said=MADE):
        """Runs one idempotent action; remembers how to undo it if it changed something.

        `said` is what the event says when the action changed something, and when
        it found its work already done (a second run, or a run after a crash).
        """
        try:
            changed = action()
        except EXPECTED as exc:
            raise StepFailed(step, host, exc) from exc
        if changed and undo:
            self.undo.append((step, host, undo))
        self.done += 1
        self.event(step, message or said[0 if changed else 1], host)

    def rollback(self):
        """Undoes what this run changed, newest first, and says each undo in the log ("undid: start")."""
        for step, host, undo in reversed(self.undo):
            try:
                undo()
            except EXPECTED as exc:  # keep undoing the rest: a leftover is reported, not fatal
                self.warn(host, f"could not undo {step}: {exc}")
            else:
                self.event(f"undid: {step}", "undone after the failure", host, EventLevel.WARNING)
        self.undo.clear()

    # --- what this run works on -------------------------------------------------------

    def hosts(self):
        """This service host's hosts, or the one named with -h."""
        hosts = [h for h in self.spec.hosts.values() if self.is_here(h)]
        if self.order.host_name:
            hosts = [h for h in hosts if h.name == self.order.host_name]
            if not hosts:
                raise JobError(
                    f"project {self.spec.name} has no host {self.order.host_name} on {self.order.service_host}"
                )
        return hosts

    def is_here(self, host):
        home = self.order.service_host
        return (host.service_host or self.order.default_service_host or home) == home

    def domain(self, host):
        return libvirt_xml.object_name(self.spec.name, host.name)

    def folder(self):
        return Path(self.conf.projects) / self.spec.name

    def plan(self, images=None):
        return plan_project(self.spec, self.conf, self.hv, images or self.images, self.hosts())


# --- the actions ------------------------------------------------------------------------


def build(job):
    build_plan(job, job.plan())  # planning refuses (unknown template, no space) before anything is made


def build_plan(job, plan, before_hosts=()):
    """Makes what the plan says; `before_hosts`: steps that need the storage (an import's disks)."""
    job.total = 1 + len(before_hosts) + len(plan.networks) + 3 * len(plan.hosts)
    for host in plan.hosts:
        for warning in host.warnings:
            job.warn(host.spec.name, warning)
    job.step(
        "storage",
        "",
        partial(ensure_storage, job, plan),
        undo=partial(remove_storage, job, [h.spec.name for h in plan.hosts]),
    )
    for step in before_hosts:
        job.step(*step)
    for network in plan.networks:
        job.step(
            "switch",
            network.switch,
            partial(job.hv.ensure_network, network),
            undo=partial(job.hv.remove_network, network.name),
        )
    for host in plan.hosts:
        build_host(job, plan, host)
    job.project_state = ProjectState.BUILT


def build_host(job, plan, host):
    name = host.spec.name
    job.step(
        "disk",
        name,
        partial(job.hv.ensure_overlay, plan.pool, host.volume, host.capacity, host.image.path, host.image.format),
        undo=partial(job.hv.remove_volume, plan.pool, host.volume),
    )
    job.step("seed", name, partial(write_seed, job, host), undo=partial(Path(host.guest.seed).unlink, True))
    job.step("define", name, partial(job.hv.define, host.guest), undo=partial(job.hv.undefine, host.guest.name))


def ensure_storage(job, plan):
    made_folder = storage.make(plan.folder, job.spec.name)
    return job.hv.ensure_pool(plan.pool, str(plan.folder)) or made_folder


def remove_storage(job, hosts=None):
    """Only what MLN made: the volumes and files of `hosts` (by default every host of the project
    here), by name, in folders it marked for the project; the pools are forgotten, and a folder
    goes only once nothing else is in it."""
    project, hosts = job.spec.name, host_names(job) if hosts is None else hosts
    folders = job.hv.remove_pools(libvirt_xml.pool_name(project), [f"{h}.qcow2" for h in hosts])
    removed = bool(folders)
    for folder in dict.fromkeys([job.folder(), *(Path(f) for f in folders if f)]):
        gone, left = storage.remove(folder, project, host_files(hosts))
        removed |= gone
        if left:
            job.warn("", f"kept {folder}: it holds files this removal does not name ({', '.join(left[:5])})")
    return removed


def host_names(job):
    """The hosts of the project on this service host: the spec's, and any domain libvirt still has."""
    prefix = libvirt_xml.object_name(job.spec.name, "")
    found = {d.removeprefix(prefix) for d in job.hv.project_objects(job.spec.name).domains}
    return sorted(found | {h.name for h in job.spec.hosts.values() if job.is_here(h)})


def host_files(hosts):
    """Every file a build or an import makes for a host: disk, seed, serial log, imported base."""
    return [f"{h}{suffix}" for h in hosts for suffix in (".qcow2", ".seed.img", ".console.log", ".base.qcow2")]


def write_seed(job, host):
    """The guest configuration disk; rewritten when the file changed it."""
    seed = Path(host.guest.seed)
    existed = seed.exists()
    guest_config.write_seed(job.spec.name, host.spec, host.macs, seed, files_root=job.conf.files)
    return not existed


def rebuild(job):
    remove(job)
    job.done = 0
    build(job)


def start(job):
    hosts = job.hosts()
    job.total = 1 + len(hosts)
    check_displays(job, hosts)
    job.step("switches", "", partial(activate_project, job))
    for host in hosts:
        name = job.domain(host)
        if job.hv.domain_state(name).state == "undefined":
            raise StepFailed("start", host.name, f"not built: run mln build for project {job.spec.name}")
        job.step("start", host.name, partial(job.hv.start, name), undo=partial(job.hv.stop, name), said=STARTED)
    job.project_state = ProjectState.RUNNING


def check_displays(job, hosts):
    """Before anything starts: a pinned display whose port is taken would fail its host's start half-way."""
    if not job.hv.displays_here:
        return  # the test driver runs no display; a remote hypervisor's ports are not this machine's
    for host in hosts:
        if job.hv.domain_state(job.domain(host)).state == "running":
            continue  # it holds its own port
        problem = display_in_use(host, job.conf)
        if problem:
            raise StepFailed("start", host.name, problem)


def activate_project(job):
    """After a reboot of the service host, the project's storage and switches may be down."""
    objects = job.hv.project_objects(job.spec.name)
    for pool in objects.pools:
        job.hv.ensure_pool(pool, str(job.folder()))
    for network in objects.networks:
        job.hv.activate_network(network)
    return False


def stop(job):
    """Shut down: every guest is asked at once (ACPI), then each has until the same deadline
    (mln.conf `shutdown_timeout`) to go off before it is powered off."""
    hosts = job.hosts()
    job.total = len(hosts)
    asked = []
    for host in hosts:
        name = job.domain(host)
        if run_step("shut down", host.name, partial(job.hv.request_shutdown, name)):
            asked.append((host.name, name))
        else:
            job.done += 1
            job.event("shut down", STOPPED[1], host.name)
    deadline = time.monotonic() + job.conf.shutdown_timeout
    for host, name in asked:
        job.done += 1
        if run_step("shut down", host, partial(job.hv.wait_until_off, name, deadline - time.monotonic())):
            job.event("shut down", "shut down", host)
            continue
        run_step("power off", host, partial(job.hv.stop, name))
        job.warn(host, f"powered off: the guest did not shut down within {job.conf.shutdown_timeout} s")
    if not job.order.host_name:
        job.project_state = ProjectState.STOPPED


def power_off(job):
    hosts = job.hosts()
    job.total = len(hosts)
    for host in hosts:
        job.step("power off", host.name, partial(job.hv.stop, job.domain(host)), said=STOPPED)
    if not job.order.host_name:
        job.project_state = ProjectState.STOPPED


def reboot(job):
    each_running(job, "reboot", job.hv.reboot, "rebooted")


def reset(job):
    each_running(job, "reset", job.hv.reset, "reset")


def each_running(job, step, action, said):
    """Reboot or reset: every host must be running; one that is not fails the job with a clear reason."""
    hosts = job.hosts()
    job.total = len(hosts)
    for host in hosts:
        job.step(step, host.name, partial(action, job.domain(host)), message=said)
    if not job.order.host_name:
        job.project_state = ProjectState.RUNNING


def run_step(step, host, action):
    """An action's result, or StepFailed naming the step and host."""
    try:
        return action()
    except EXPECTED as exc:
        raise StepFailed(step, host, exc) from exc


def remove(job):
    """Everything of the project on this host, found by libvirt's metadata, not by the spec."""
    if job.order.host_name:
        return remove_one_host(job)
    objects = job.hv.project_objects(job.spec.name)
    job.total = len(objects.domains) + len(objects.networks) + 1
    for domain in objects.domains:
        job.step("undefine", domain, partial(job.hv.undefine, domain), said=REMOVED)
    for network in objects.networks:
        job.step("remove switch", network, partial(remove_network, job, network), said=REMOVED)
    job.step("remove storage", "", partial(remove_storage, job), said=REMOVED)
    job.project_state = ProjectState.REMOVED


def orphan_removal(name, conf, hypervisor, events):
    """The remove job of a project libvirt holds and the database does not (`mln remove` of an orphan):
    its hosts are those libvirt names (domains, disks), so the removal finds each of their files by
    name, and only in folders MLN marked for the project."""
    objects = hypervisor.project_objects(name)
    prefix = libvirt_xml.object_name(name, "")
    hosts = {d.removeprefix(prefix) for d in objects.domains}
    disks = [v for v in objects.volumes if v.endswith(".qcow2") and not v.endswith(".base.qcow2")]
    hosts |= {v.removesuffix(".qcow2") for v in disks}
    spec = ProjectSpec(name, hosts={h: HostSpec(h) for h in sorted(hosts)})
    return Job(JobOrder(Action.REMOVE, conf.service_host), spec, conf, hypervisor, events, images={})


def remove_one_host(job):
    """`-h HOST` (a page's remove of one host): its guest, disk and seed; the switches stay for the others."""
    hosts = job.hosts()
    job.total = len(hosts)
    for host in hosts:
        job.step("remove host", host.name, partial(remove_host, job, job.domain(host)), said=REMOVED)


def remove_host(job, domain):
    """A host's domain, disk and seed on this service host."""
    host = domain.removeprefix(libvirt_xml.object_name(job.spec.name, ""))
    job.hv.undefine(domain)
    job.hv.remove_volume(libvirt_xml.pool_name(job.spec.name), f"{host}.qcow2")
    for leftover in (f"{host}.seed.img", f"{host}.base.qcow2"):
        (job.folder() / leftover).unlink(missing_ok=True)
    return True


def remove_network(job, name):
    return job.hv.remove_network(name)
