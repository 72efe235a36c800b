"""What a project becomes on this service host, decided before anything is made.

`plan_project` turns a ProjectSpec, mln.conf and the registered templates
into libvirt definitions: one storage pool and folder per project (and one
per other folder its hosts' `filepath` names), one network per switch, per
host an overlay, a guest configuration seed and a domain. Every check that
can refuse a build (unknown template, no kernel for a `pv` template, a
`filepath` that cannot be made, too little free space) happens here, so a
refused build has created nothing.

A course file never chooses a host resource on its own: folders (`filepath`,
`lvm_vg`), bridges and VNC displays must be among those mln.conf allows, and
memory, vcpus and disk sizes within its maximums (`resource_problems`, which
the portal also runs at upload). A folder the project's files would go to
must be one MLN made for that project (daemon/agent/storage.py), or not exist yet.
"""

import os
import secrets
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

from daemon.agent import libvirt_xml, storage
from daemon.agent.hypervisor import Hypervisor
from daemon.conf import MiB, MlnConf
from projects.lang.spec import HostSpec, ProjectSpec

# Tiny guests hang in early boot with 64 MiB (docs/hypervisor-notes.md).
MIN_MEMORY = 96 * MiB
# libvirt driver names (virConnectGetType) that run a keyword's guests as written.
NATIVE_DRIVERS = {"xen": {"Xen", "libxl"}, "vmware": {"ESX", "VMware", "VMWARE"}, "uml": set()}


class PlanError(Exception):
    """The project cannot be built here; the message names the host's file and line."""


@dataclass
class Image:
    """A registered template, as the daemon needs it."""

    name: str
    path: str
    format: str  # raw or qcow2
    boot: str  # pv or hvm
    virtual_size: int


@dataclass
class HostPlan:
    spec: object  # HostSpec
    image: Image
    volume: str  # its name in the project's pool, or the disk's path for a `filepath` host
    capacity: int
    guest: libvirt_xml.GuestDefinition
    macs: dict = field(default_factory=dict)  # interface -> MAC
    warnings: list = field(default_factory=list)
    pool: str = ""  # the pool its disk is in

    def folder(self):
        return Path(self.guest.disk).parent


@dataclass
class ProjectPlan:
    project: str
    pool: str
    folder: Path
    networks: list = field(default_factory=list)  # NetworkDefinition
    hosts: list = field(default_factory=list)  # HostPlan
    warnings: list = field(default_factory=list)


def where(host):
    return f"{host.position}: " if host.position else ""


def plan_project(
    spec: ProjectSpec,
    conf: MlnConf,
    hypervisor: Hypervisor,
    images: dict[str, Image],
    hosts: list[HostSpec] | None = None,
) -> ProjectPlan:
    """`hosts`: the HostSpecs this service host builds (all of them by default)."""
    hosts = list(spec.hosts.values()) if hosts is None else hosts
    refuse(problems_of(spec, hosts, switches_used(spec, hosts), conf))
    folder = project_folder(spec.name, conf)
    plan = ProjectPlan(spec.name, libvirt_xml.pool_name(spec.name), folder)
    plan.networks = plan_networks(spec, hosts, conf, hypervisor)
    domain_type = hypervisor.domain_type(conf.kvm)
    plan.hosts = [plan_host(spec.name, host, conf, hypervisor, images, folder, domain_type) for host in hosts]
    check_free_space(plan, hypervisor)
    return plan


def refuse(problems):
    if problems:
        raise PlanError("\n".join(problems))


def project_folder(project, conf):
    """conf.projects/<project>; an existing folder must be one MLN made for this project."""
    if project in ("", ".", "..") or Path(project).name != project:
        raise PlanError(f"project name {project!r} cannot name a folder")
    folder = Path(conf.projects) / project
    if folder.exists() and not storage.marked(folder, project):
        raise PlanError(f"project {project}: {storage.not_ours(folder, project)}")
    return folder


# --- what mln.conf allows a course file to ask of the host ------------------------------


def resource_problems(spec: ProjectSpec, conf: MlnConf) -> list[str]:
    """Every host resource and size the project asks beyond what mln.conf allows, as
    "file:line:col: message" lines (no libvirt, no folder is looked at): the portal calls it
    at upload, and `plan_project` again at build with the daemon's own mln.conf."""
    return problems_of(spec, list(spec.hosts.values()), list(spec.switches.values()), conf)


def problems_of(spec, hosts, switches, conf):
    problems = [
        f"{where(host)}host {host.name}: {problem}"
        for host in hosts
        for problem in host_problems(spec.name, host, conf)
    ]
    return problems + [
        f"{where(switch)}switch {switch.name}: {problem}"
        for switch in switches
        for problem in switch_problems(switch, conf)
    ]


def host_problems(project, host, conf):
    problems = [
        above(conf, "memory", host.memory, "max_memory", conf.max_memory, mib),
        above(conf, "size", host.size, "max_disk", conf.max_disk, mib),
        above(conf, "vcpus", host.vcpus, "max_vcpus", conf.max_vcpus, str),
        display_problem(host, conf),
        lvm_problem(host, conf),
        filepath_problem(project, host, conf),
    ]
    return [problem for problem in problems if problem]


def above(conf, key, value, limit_key, limit, shown):
    if value is not None and value > limit:
        return f"{key} {shown(value)} is above {limit_key} {shown(limit)} of {conf.path}"
    return None


def mib(size):
    return f"{size // MiB} MiB"


def display_problem(host, conf):
    """A pinned display is a host port: only from the range the administrator set aside."""
    if host.vncdisplay is None:
        return None
    if conf.vncdisplay_range is None:
        return f"vncdisplay {host.vncdisplay}: {conf.path} sets no vncdisplay_range, so no display may be pinned"
    first, last = conf.vncdisplay_range
    if not first <= host.vncdisplay <= last:
        return f"vncdisplay {host.vncdisplay} is outside vncdisplay_range {first}-{last} of {conf.path}"
    return None


def display_in_use(host, conf):
    """A pinned display whose port something already listens on, said before qemu fails on it with a raw
    bind error. A probe that can bind the port (and lets it go at once) proves it free."""
    if host.vncdisplay is None:
        return None
    port, address = 5900 + host.vncdisplay, conf.listen_address
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free for qemu too
        try:
            probe.bind((address, port))
        except OSError:
            return (
                f"vncdisplay {host.vncdisplay}: port {port} on {address} is already in use on this service host; "
                "pin another display or stop what listens there"
            )
    return None


def lvm_problem(host, conf):
    allowed = {conf.lvm_vg, *conf.lvm_allow} - {None}
    if host.lvm_vg is None or host.lvm_vg in allowed:
        return None
    return f"lvm_vg {host.lvm_vg} is not a volume group {conf.path} allows (lvm_vg, lvm_allow)"


def filepath_problem(project, host, conf):
    """`filepath DIR` may only put disks under a folder of storage_roots (or san_path)."""
    if not host.filepath:
        return None
    if not os.path.isabs(host.filepath):
        return f"filepath {host.filepath!r} is not an absolute path"
    wanted = Path(os.path.normpath(Path(host.filepath) / project))
    if wanted == Path(os.path.normpath(Path(conf.projects) / project)) or under_roots(wanted, storage_roots(conf)):
        return None
    return f"filepath {host.filepath} is not under a folder of storage_roots of {conf.path}"


def storage_roots(conf):
    """Where `filepath` may put disks: storage_roots, and san_path (the administrator set it too)."""
    return [Path(root) for root in (*conf.storage_roots, conf.san_path) if root]


def under_roots(path, roots):
    """Strictly below one of the roots: a root itself is the administrator's, never a project's."""
    return any(path != root and path.is_relative_to(root) for root in roots)


def switch_problems(switch, conf):
    if switch.bridge and switch.bridge not in conf.bridge_allow:
        return [f"bridge {switch.bridge} is not in bridge_allow of {conf.path}"]
    return []


# --- what libvirt will make ---------------------------------------------------------------


def switches_used(spec, hosts):
    names = {i.switch for h in hosts for i in h.interfaces if i.switch}
    return [s for name, s in spec.switches.items() if name in names]


def plan_networks(spec, hosts, conf, hypervisor):
    networks, taken = [], []
    for switch in switches_used(spec, hosts):
        name = libvirt_xml.object_name(spec.name, switch.name)
        network = libvirt_xml.NetworkDefinition(
            spec.name, switch.name, name, libvirt_xml.bridge_name(spec.name, switch.name), switch.bridge
        )
        if switch.nat and not switch.bridge and not hypervisor.network_exists(name):
            network.nat_subnet = hypervisor.free_subnet(conf.nat_pool, taken)
            taken.append(network.nat_subnet)
        networks.append(network)
    return networks


def find_image(host, conf, images):
    name = host.template or conf.default_template
    if not name:
        raise PlanError(f"{where(host)}host {host.name}: no template, and mln.conf sets no default_template")
    if name not in images:
        raise PlanError(f"{where(host)}host {host.name}: unknown template {name!r}")
    return images[name]


VNC_PASSWORD_MAX = 8


def plan_host(project, host, conf, hypervisor, images, folder, domain_type):
    image = find_image(host, conf, images)
    warnings = keyword_warnings(host, hypervisor, domain_type, image)
    memory = host.memory or conf.default_memory
    if memory < MIN_MEMORY:
        warnings.append(f"memory {memory // MiB} MiB raised to {MIN_MEMORY // MiB} MiB: smaller guests hang at boot")
        memory = MIN_MEMORY
    capacity = disk_capacity(host, conf, image, warnings)
    macs = {i.name: libvirt_xml.mac_address(project, host.name, i.name) for i in host.interfaces if i.switch}
    name = libvirt_xml.object_name(project, host.name)
    disk = disk_folder(project, host, conf, folder) / f"{host.name}.qcow2"
    guest = libvirt_xml.GuestDefinition(
        project=project,
        host=host.name,
        name=name,
        domain_type=domain_type,
        memory=memory,
        vcpus=host.vcpus or 1,
        disk=str(disk),
        seed=str(folder / f"{host.name}.seed.img"),
        console_log=str(folder / f"{host.name}.console.log"),
        vnc_listen=conf.listen_address,
        vnc_password=vnc_password(host, warnings) or hypervisor.vnc_password(name) or secrets.token_urlsafe(6),
        vnc_port=5900 + host.vncdisplay if host.vncdisplay is not None else None,
        arch=hypervisor.arch(),
        nics=[
            libvirt_xml.Nic(macs[i.name], libvirt_xml.object_name(project, i.switch))
            for i in host.interfaces
            if i.switch
        ],
    )
    if image.boot == "pv":
        guest.kernel, guest.initrd = pv_boot(host, conf, image)
    plan = HostPlan(host, image, disk.name, capacity, guest, macs, warnings, libvirt_xml.pool_name(project))
    if disk.parent != folder:  # `filepath`: a volume of the project's pool for that folder
        plan.volume, plan.pool = str(disk), libvirt_xml.location_pool_name(plan.pool, disk.parent)
    return plan


def disk_folder(project, host, conf, folder):
    """Where the host's disk lives: DIR/<project> for `filepath DIR`, the project's folder otherwise.

    Nothing is made here: a folder that cannot be made is refused before the build starts."""
    if not host.filepath:
        return folder
    wanted = Path(os.path.normpath(Path(host.filepath) / project))
    if wanted == Path(os.path.normpath(folder)):
        return folder
    # The words were checked (resource_problems); the folder they lead to, through any link, is checked here.
    if not under_roots(wanted.resolve(), [root.resolve() for root in storage_roots(conf)]):
        raise PlanError(
            f"{where(host)}host {host.name}: filepath {host.filepath}: {wanted} leads to "
            f"{wanted.resolve()}, not under a folder of storage_roots of {conf.path}"
        )
    if wanted.exists() and not storage.marked(wanted, project):
        raise PlanError(f"{where(host)}host {host.name}: filepath {host.filepath}: {storage.not_ours(wanted, project)}")
    parent = existing_parent(wanted)
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        what = "is not a folder" if not parent.is_dir() else "is not writable"
        raise PlanError(
            f"{where(host)}host {host.name}: filepath {host.filepath}: cannot make {wanted} ({parent} {what})"
        )
    return wanted


def vnc_password(host, warnings):
    """VNC's password is 8 characters (libvirt refuses more); a course's `@random` makes 12 or more."""
    if host.vncpasswd and len(host.vncpasswd) > VNC_PASSWORD_MAX:
        warnings.append(
            f"vncpasswd: VNC takes {VNC_PASSWORD_MAX} characters; the console's password is the first "
            f"{VNC_PASSWORD_MAX}"
        )
        return host.vncpasswd[:VNC_PASSWORD_MAX]
    return host.vncpasswd


def pv_boot(host, conf, image):
    if not conf.kernel:
        raise PlanError(
            f"{where(host)}host {host.name}: template {image.name} boots pv, and {conf.path} sets no kernel"
        )
    return str(conf.kernel), str(conf.initrd) if conf.initrd else None


def disk_capacity(host, conf, image, warnings):
    wanted = host.size or conf.default_size or image.virtual_size
    if wanted < image.virtual_size:
        warnings.append(
            f"size {wanted} bytes is below template {image.name}'s {image.virtual_size}: kept the template's"
        )
        return image.virtual_size
    return wanted


def keyword_warnings(host, hypervisor, domain_type, image):
    """The article's files name Xen, VMware or UML: build them on what this host offers."""
    warnings, asked = [], host.virtualization
    if asked == "kvm" and domain_type != "kvm":
        warnings.append(f"kvm: built as a {domain_type} guest, KVM is not enabled on this host")
    elif asked and asked != "kvm" and hypervisor.driver not in NATIVE_DRIVERS.get(asked, set()):
        warnings.append(f"{asked}: built as a {domain_type} guest on {hypervisor.driver}")
    if host.hvm and image.boot == "pv":
        warnings.append(f"hvm: template {image.name} has no boot loader, booted with the host's kernel")
    if host.lvm:
        warnings.append("lvm: built as a file, LVM volumes are not supported yet")
    return warnings


def check_free_space(plan, hypervisor):
    """Each host's `free_space` on the storage its disk goes to."""
    for host in sorted(plan.hosts, key=lambda h: -(h.spec.free_space or 0)):
        wanted = host.spec.free_space or 0
        if not wanted:
            return
        free = hypervisor.free_bytes(host.pool)
        if free is None:
            free = shutil.disk_usage(existing_parent(host.folder())).free
        if free < wanted:
            raise PlanError(
                f"{where(host.spec)}host {host.spec.name}: free_space {wanted // MiB} MiB wanted, "
                f"the storage has {free // MiB} MiB free"
            )


def existing_parent(path):
    path = Path(path)
    while not path.exists():
        path = path.parent
    return path
