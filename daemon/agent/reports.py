"""What this service host says of a project's guests and switches, read from libvirt.

The runner (daemon/cluster/runner.py) hands these reports to the project
(`Project.record_hosts`), whose Host rows then carry what libvirt last said
about each guest (state, VNC port, memory), never what was last requested;
pages read those rows instead of libvirt.
"""

from dataclasses import dataclass, field

from daemon.agent import libvirt_xml
from projects.choices import HostState
from projects.lang.spec import ProjectSpec

HOST_STATES = {
    "running": HostState.RUNNING,
    "shut off": HostState.STOPPED,
    "undefined": HostState.ABSENT,
    "paused": HostState.STOPPED,
    "crashed": HostState.FAILED,
}


@dataclass
class HostReport:
    name: str
    template: str
    memory: int | None
    service_host: str
    state: str  # a HostState
    domain_name: str
    vnc_port: int | None
    vnc_password: str
    addresses: dict = field(default_factory=dict)  # interface -> address


@dataclass
class SwitchReport:
    name: str
    service_host: str
    network_name: str


def host_reports(spec: ProjectSpec, hypervisor, service_host: str) -> list[HostReport]:
    """One report per host of the spec that this service host runs (a host with no service_host runs here)."""
    reports = []
    for host in spec.hosts.values():
        home = host.service_host or service_host
        if home != service_host:
            continue
        state = hypervisor.domain_state(libvirt_xml.object_name(spec.name, host.name))
        reports.append(
            HostReport(
                name=host.name,
                template=host.template or "",
                memory=state.memory or host.memory,
                service_host=home,
                state=HOST_STATES.get(state.state, HostState.FAILED),
                domain_name=state.name,
                vnc_port=state.vnc_port,
                vnc_password=hypervisor.vnc_password(state.name) or "",
                addresses={i.name: i.address or "" for i in host.interfaces},
            )
        )
    return reports


def switch_reports(spec: ProjectSpec, service_host: str) -> list[SwitchReport]:
    return [
        SwitchReport(s.name, service_host, libvirt_xml.object_name(spec.name, s.name)) for s in spec.switches.values()
    ]
