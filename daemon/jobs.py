"""The daemon's jobs: build, rebuild, start, stop, remove, export and import.

`run(build_id)` is what RQ calls (queue `mln.<service_host>`), and what the
command line calls in-process for its own host. Each run is Build.start /
try / fail(reason) / succeed, with one BuildEvent per step, also sent to the
channel-layer groups `project-<id>` and `course-<id>` for live pages.

Every step is idempotent (it makes only what is missing), so a job run twice,
or run again after the daemon was killed half-way, converges on the same
guests. A job that fails undoes what this run made, in reverse order, so a
failed build leaves nothing running or half-made; a killed one leaves what it
made for the next run to adopt or `mln remove` to delete.
"""

import logging
from functools import partial
from pathlib import Path

from django.db import transaction

from projects.choices import Action, EventLevel, ProjectState
from projects.lang.spec import ProjectSpec
from projects.models import Build

from daemon import conf as mlnconf
from daemon import records
from daemon.cluster import chains
from daemon.agent import libvirt_xml
from daemon.agent import guest_config
from daemon.agent import storage
from daemon.events import EventLog
from daemon.agent.archive import ArchiveError
from daemon.agent.hypervisor import Hypervisor, HypervisorError
from daemon.agent.plan import Image, PlanError, plan_project

log = logging.getLogger(__name__)


class JobError(Exception):
    """A job cannot go on; the message says which host and why."""


class StepFailed(Exception):
    def __init__(self, step, host, reason):
        super().__init__(f"{step}{' ' + host if host else ''}: {reason}")


# What a step's event says: (it changed something, it found the work done).
MADE = ("made", "already there")
REMOVED = ("removed", "already gone")
STARTED = ("started", "already running")
STOPPED = ("stopped", "already stopped")

EXPECTED = (JobError, ArchiveError, PlanError, HypervisorError, guest_config.GuestConfigError, mlnconf.ConfError,
            storage.FolderError, OSError)


class Job:
    """One run of one Build: its steps, their events, and the undo of what it made."""

    def __init__(self, build, conf, hypervisor, progress=None):
        self.build, self.project, self.conf, self.hv = build, build.project, conf, hypervisor
        self.spec = ProjectSpec.from_dict(self.project.spec)
        self.events = EventLog(build, progress)
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
            self.undo.append(undo)
        self.done += 1
        self.event(step, message or said[0 if changed else 1], host)

    def rollback(self):
        for undo in reversed(self.undo):
            try:
                undo()
            except EXPECTED as exc:  # keep undoing the rest: a leftover is reported, not fatal
                self.warn("", f"could not undo a step: {exc}")
        self.undo.clear()

    # --- what this run works on -------------------------------------------------------

    def hosts(self):
        """This service host's hosts, or the one named with -h."""
        hosts = [h for h in self.spec.hosts.values() if self.is_here(h)]
        if self.build.host_name:
            hosts = [h for h in hosts if h.name == self.build.host_name]
            if not hosts:
                raise JobError(f"project {self.spec.name} has no host {self.build.host_name} on "
                               f"{self.build.service_host}")
        return hosts

    def is_here(self, host):
        home = self.build.service_host
        return (host.service_host or self.build.options.get("default_service_host", home)) == home

    def domain(self, host):
        return libvirt_xml.object_name(self.spec.name, host.name)

    def folder(self):
        return Path(self.conf.projects) / self.spec.name

    def plan(self, images=None):
        return plan_project(self.spec, self.conf, self.hv, images or registered_images(), self.hosts())


def registered_images():
    from templates_registry.models import Template

    return {t.name: Image(t.name, t.image, t.format, t.boot, t.virtual_size) for t in Template.objects.all()}


# --- the actions ------------------------------------------------------------------------


def build(job):
    build_plan(job, job.plan())  # planning refuses (unknown template, no space) before anything is made


def build_plan(job, plan, before_hosts=()):
    """Makes what the plan says; `before_hosts`: steps that need the storage (an import's disks)."""
    job.total = 1 + len(before_hosts) + len(plan.networks) + 3 * len(plan.hosts)
    for host in plan.hosts:
        for warning in host.warnings:
            job.warn(host.spec.name, warning)
    job.step("storage", "", partial(ensure_storage, job, plan),
             undo=partial(remove_storage, job, [h.spec.name for h in plan.hosts]))
    for step in before_hosts:
        job.step(*step)
    for network in plan.networks:
        job.step("switch", network.switch, partial(job.hv.ensure_network, network),
                 undo=partial(job.hv.remove_network, network.name))
    for host in plan.hosts:
        build_host(job, plan, host)
    records.set_project_state(job.project, ProjectState.BUILT)


def build_host(job, plan, host):
    name = host.spec.name
    job.step("disk", name, partial(job.hv.ensure_overlay, plan.pool, host.volume, host.capacity,
                                   host.image.path, host.image.format),
             undo=partial(job.hv.remove_volume, plan.pool, host.volume))
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
    job.step("switches", "", partial(activate_project, job))
    for host in hosts:
        name = job.domain(host)
        if job.hv.domain_state(name).state == "undefined":
            raise StepFailed("start", host.name, f"not built: run mln build for project {job.spec.name}")
        job.step("start", host.name, partial(job.hv.start, name), undo=partial(job.hv.stop, name), said=STARTED)
    records.set_project_state(job.project, ProjectState.RUNNING)


def activate_project(job):
    """After a reboot of the service host, the project's storage and switches may be down."""
    objects = job.hv.project_objects(job.spec.name)
    for pool in objects.pools:
        job.hv.ensure_pool(pool, str(job.folder()))
    for network in objects.networks:
        job.hv.activate_network(network)
    return False


def stop(job):
    hosts = job.hosts()
    job.total = len(hosts)
    for host in hosts:
        job.step("stop", host.name, partial(job.hv.stop, job.domain(host)), said=STOPPED)
    if not job.build.host_name:
        records.set_project_state(job.project, ProjectState.STOPPED)


def remove(job):
    """Everything of the project on this host, found by libvirt's metadata, not by the spec."""
    if job.build.host_name:
        return remove_one_host(job)
    objects = job.hv.project_objects(job.spec.name)
    job.total = len(objects.domains) + len(objects.networks) + 1
    for domain in objects.domains:
        job.step("undefine", domain, partial(job.hv.undefine, domain), said=REMOVED)
    for network in objects.networks:
        job.step("remove switch", network, partial(remove_network, job, network), said=REMOVED)
    job.step("remove storage", "", partial(remove_storage, job), said=REMOVED)
    records.set_project_state(job.project, ProjectState.REMOVED)


def remove_one_host(job):
    """`-h HOST` (a page's remove of one host): its guest, disk and seed; the switches stay for the others."""
    from daemon.cluster.upgrade_plan import remove_host

    hosts = job.hosts()
    job.total = len(hosts)
    for host in hosts:
        job.step("remove host", host.name, partial(remove_host, job, job.domain(host)), said=REMOVED)


def remove_network(job, name):
    return job.hv.remove_network(name)


def export(job):
    from daemon.agent import archive

    archive.export_project(job)


def import_(job):
    from daemon.agent import archive

    archive.import_project(job)


def upgrade(job):
    from daemon.cluster import upgrade_plan as upgrading

    upgrading.upgrade_project(job)


def migrate(job):
    from daemon.agent import migration

    migration.migrate(job)


ACTIONS = {Action.BUILD: build, Action.REBUILD: rebuild, Action.START: start, Action.STOP: stop,
           Action.REMOVE: remove, Action.EXPORT: export, Action.IMPORT: import_,
           Action.UPGRADE: upgrade, Action.MIGRATE: migrate}


# --- the entry point ------------------------------------------------------------------

DAEMON_CONF = None


def configure(conf):
    """The conf a worker runs its jobs with (`mln daemon` with -P, -T, -F)."""
    global DAEMON_CONF
    DAEMON_CONF = conf


def run(build_id, conf=None, progress=None):
    """Runs one Build; returns it, succeeded or failed. Never raises for a failed step."""
    build = Build.objects.select_related("project").get(pk=build_id)
    conf = conf or DAEMON_CONF or mlnconf.load()
    build.start()
    switch_spec(build)
    try:
        with Hypervisor(conf.libvirt_uri) as hypervisor:
            job = Job(build, conf, hypervisor, progress)
            run_action(job)
    except (StepFailed, *EXPECTED) as exc:
        fail(build, str(exc), progress)
    except Exception as exc:  # a bug: the user gets one line, the log gets the traceback
        log.exception("build %s failed", build.pk)
        fail(build, f"internal error: {exc!r}", progress)
    else:
        build.succeed()
    return build


def switch_spec(build):
    """An upgrade chain carries the project's new spec in one Build, its first `upgrade` (daemon/cluster/upgrade_plan.py):
    stored as that job starts, after the exports. The portal has stored it already, with the course."""
    new = build.options.get("spec")
    if new is not None and build.project.spec != new:
        build.project.spec = new
        build.project.save(update_fields=["spec", "updated_at"])


def run_action(job):
    try:
        ACTIONS[job.build.action](job)
    except Exception:
        job.rollback()
        raise
    finally:
        job.events.flush()
        records.record_hosts(job.project, job.spec, job.hv, job.build.service_host)


def fail(build, reason, progress=None):
    with transaction.atomic():
        build.fail(reason)
        event = build.log_event("failed", reason, level=EventLevel.ERROR)
        if build.action in (Action.BUILD, Action.REBUILD):
            records.set_project_state(build.project, ProjectState.FAILED)
    chains.fail_later(build, reason)  # the steps after it in its chain will not run
    records.broadcast(build.project, event)
    if progress:
        progress(event)

