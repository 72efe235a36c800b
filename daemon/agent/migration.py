"""Moving hosts between service hosts: four steps, on the source and on the target.

Cold (`migrate_out` on the source, then `migrate_in` on the target): the host is
stopped, its disk exported as a standalone qcow2 with its manifest and
SHA-256 sums into `transfer/<project>.<host>` (a folder both daemons reach),
and only then removed from the source; the target checks every sum, imports
the disk (daemon/agent/archive.py), keeps the console password the students know,
and starts the host if it was running. Live (`migrate_live` on the source, then
`migrate_arrived` on the target): libvirt moves the running domain peer to peer
(Hypervisor.migrate_live), its disks staying where they are on the shared
storage; the source forgets what it no longer runs, and the target checks
that the host runs there and records it.
"""

from functools import partial
from pathlib import Path

from daemon.agent import archive, libvirt_xml
from daemon.agent.errors import JobError
from daemon.agent.steps import remove_host


class MigrationError(JobError):
    """A host cannot move; the message names it."""


def moving_hosts(job):
    """The hosts named by the Build: the spec may already place them on their target."""
    names = job.order.options.get("hosts") or [job.order.host_name]
    missing = [n for n in names if n not in job.spec.hosts]
    if missing:
        raise MigrationError(f"project {job.spec.name} has no host {', '.join(missing)}")
    return [job.spec.hosts[n] for n in names]


def migrate_out(job):
    folder = Path(job.order.options["directory"])
    hosts = moving_hosts(job)
    job.total = 3 * len(hosts) + 2
    for host in hosts:
        domain = job.domain(host)
        if job.hv.domain_state(domain).state == "undefined":
            raise MigrationError(f"host {host.name} is not on {job.order.service_host}")
        job.step("stop", host.name, partial(job.hv.stop, domain), undo=partial(job.hv.start, domain))
    folder.mkdir(parents=True, exist_ok=True)
    job.step("project file", "", partial(archive.write_manifest, job, folder, hosts))
    for host in hosts:
        job.step("export disk", host.name, partial(archive.export_disk, job, host, folder, False))
    job.step(
        "sums",
        "",
        partial(archive.write_sums, folder, [archive.SOURCE, archive.MANIFEST] + [f"{h.name}.qcow2" for h in hosts]),
    )
    for host in hosts:  # the export is whole: now the source may let the host go
        job.step("remove host", host.name, partial(remove_here, job, host))
    job.undo.clear()


def remove_here(job, host):
    return remove_host(job, job.domain(host))


def migrate_in(job):
    """The Build's options carry what the source knew: the console password, whether it ran."""
    options = job.order.options
    templates = {h.name: h.template for h in job.spec.hosts.values()}
    for host in job.hosts():  # the console password students know, unless the file sets one
        host.vncpasswd = host.vncpasswd or options.get("vnc_password") or None
    try:
        archive.import_project(job)
    finally:
        for host in job.spec.hosts.values():  # the Host rows keep naming the template, not the import
            host.template = templates[host.name]
    if options.get("start"):
        for host in job.hosts():
            job.step("start", host.name, partial(job.hv.start, job.domain(host)))


def migrate_live(job):
    peer = job.order.options["peer_uri"]
    hosts = moving_hosts(job)
    job.total = len(hosts) + 1
    for host in hosts:
        job.step(
            "migrate",
            host.name,
            partial(live_one, job, libvirt_xml.object_name(job.spec.name, host.name), peer),
            message=f"live to {peer}",
        )
    job.step("leave", "", partial(leave_source, job))


def live_one(job, domain, peer):
    job.hv.migrate_live(domain, peer, shared_storage=job.conf.san_path)
    return True


def leave_source(job):
    """When none of the project's hosts is left here: its switches go, and its pool is
    forgotten, never deleted: the disks in it are the moved hosts' disks now."""
    objects = job.hv.project_objects(job.spec.name)
    if objects.domains:
        return False
    for network in objects.networks:
        job.hv.remove_network(network)
    for pool in objects.pools:
        job.hv.forget_pool(pool)
    return bool(objects.networks or objects.pools)


def migrate_arrived(job):
    """On the target of a live move: the host runs here (the Host rows are then recorded here)."""
    hosts = moving_hosts(job)
    job.total = len(hosts)
    for host in hosts:
        job.step("arrived", host.name, partial(running_here, job, host), message="running here")


def running_here(job, host):
    state = job.hv.domain_state(job.domain(host)).state
    if state != "running":
        raise MigrationError(f"host {host.name} is {state} on {job.order.service_host}, not running")
    return False
