"""What the daemon tells the rest of MLN web: Host and Switch rows, live events.

Host rows carry what libvirt last said about each guest (state, VNC port,
MACs), never what was last requested; pages read them instead of libvirt.
"""

import logging

from django.db import transaction
from django.utils import timezone

from projects.choices import HostState
from projects.models import Host, Switch

from daemon.agent import libvirt_xml

log = logging.getLogger(__name__)

HOST_STATES = {"running": HostState.RUNNING, "shut off": HostState.STOPPED, "undefined": HostState.ABSENT,
               "paused": HostState.STOPPED, "crashed": HostState.FAILED}
HOST_FIELDS = ["template", "memory", "service_host", "state", "domain_name", "vnc_port", "vnc_password",
               "addresses", "state_at"]


def set_project_state(project, state):
    project.state = state
    project.save(update_fields=["state", "updated_at"])


def record_hosts(project, spec, hypervisor, service_host):
    """Upserts one Host row per host of the spec that this service host runs, from libvirt."""
    rows = {h.name: h for h in project.hosts.all()}
    now, changed = timezone.now(), []
    for host in spec.hosts.values():
        home = host.service_host or service_host
        if home != service_host:
            continue
        row = rows.get(host.name) or Host(project=project, name=host.name)
        fill_host(row, host, hypervisor.domain_state(libvirt_xml.object_name(spec.name, host.name)), home, now)
        row.vnc_password = hypervisor.vnc_password(row.domain_name) or ""
        changed.append(row)
    with transaction.atomic():  # one commit; bulk_update's CASE expressions are slower than plain UPDATEs
        Host.objects.bulk_create([r for r in changed if r.pk is None])
        for row in changed:
            if row.pk is not None:
                row.save(update_fields=HOST_FIELDS)
        record_switches(project, spec, service_host)


def fill_host(row, host, state, home, now):
    row.template = host.template or ""
    row.memory = state.memory or host.memory
    row.service_host = home
    row.state = HOST_STATES.get(state.state, HostState.FAILED)
    row.domain_name = state.name
    row.vnc_port = state.vnc_port
    row.addresses = {i.name: i.address or "" for i in host.interfaces}
    row.state_at = now


def record_switches(project, spec, service_host):
    for switch in spec.switches.values():
        Switch.objects.update_or_create(
            project=project, name=switch.name,
            defaults={"service_host": service_host,
                      "network_name": libvirt_xml.object_name(spec.name, switch.name)})


def broadcast(project, event):
    """Sends a build event to the pages that watch it; a missing channel layer is no error."""
    try:
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is None:
            return
        message = {"type": "build.event", "project": project.pk, "build": event.build_id, "seq": event.seq,
                   "step": event.step, "host": event.host_name, "level": event.level, "message": event.message,
                   "done": event.done, "total": event.total, "time": event.at.isoformat() if event.at else None}
        for group in groups_of(project):
            async_to_sync(layer.group_send)(group, message)
    except Exception as exc:  # live pages are a nicety; the stored event is the truth
        log.debug("channel layer: %s", exc)


def groups_of(project):
    groups = [f"project-{project.pk}"]
    if project.group_id:
        groups.append(f"course-{project.group.course_id}")
    return groups
