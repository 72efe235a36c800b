"""The `upgrade` step on one daemon: make this service host hold what the project's new spec
puts on it (daemon/cluster/upgrade_plan.py plans the whole chain, of which this is one step)."""

from functools import partial

from daemon.agent import libvirt_xml, steps
from projects.choices import ProjectState


def upgrade_project(job):
    """Makes this service host hold what the new spec puts on it; leaves moving hosts to their migration."""
    without = set(job.order.options.get("without", ()))
    hosts = job.hosts()
    state = job.order.project_state
    plan = job.plan()  # all of its hosts, so the switches of a host arriving later are made too
    plan.hosts = [h for h in plan.hosts if h.spec.name not in without]
    keep = {job.domain(h) for h in hosts} | {libvirt_xml.object_name(job.spec.name, n) for n in without}
    objects = job.hv.project_objects(job.spec.name)
    gone = [d for d in objects.domains if d not in keep]
    # A host leaving live is still here, on its switches, until its migration runs.
    leaving = {n for n in without if libvirt_xml.object_name(job.spec.name, n) in objects.domains}
    wanted_networks = {n.name for n in plan.networks}
    stale_networks = [] if leaving else [n for n in objects.networks if n not in wanted_networks]
    if not hosts and not leaving:
        steps.remove(job)  # nothing of the project is left here; the project lives on elsewhere
        job.project_state = state
        return
    for domain in gone:
        job.step("remove host", domain, partial(steps.remove_host, job, domain))
    for network in stale_networks:
        job.step("remove switch", network, partial(steps.remove_network, job, network))
    existing = set(objects.domains)
    steps.build_plan(job, plan)
    if state == ProjectState.RUNNING:
        for host in plan.hosts:
            if host.guest.name not in existing:
                job.step("start", host.spec.name, partial(job.hv.start, host.guest.name))
    job.project_state = state if state != ProjectState.NEW else ProjectState.BUILT
