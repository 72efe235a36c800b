"""What a project becomes on this service host, decided before anything is made.

`plan_project` turns a ProjectSpec, mln.conf and the registered templates
into libvirt definitions: one storage pool and folder per project (and one
per other folder its hosts' `filepath` names), one network per switch, per
host an overlay, a guest configuration seed and a domain. Every check that
can refuse a build (unknown template, no kernel for a `pv` template, a
`filepath` that cannot be made, too little free space) happens here, so a
refused build has created nothing.
"""

import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import definitions
from .conf import MiB

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
    format: str         # raw or qcow2
    boot: str           # pv or hvm
    virtual_size: int


@dataclass
class HostPlan:
    spec: object                # HostSpec
    image: Image
    volume: str                 # its name in the project's pool, or the disk's path for a `filepath` host
    capacity: int
    guest: definitions.GuestDefinition
    macs: dict = field(default_factory=dict)        # interface -> MAC
    warnings: list = field(default_factory=list)
    pool: str = ""              # the pool its disk is in

    def folder(self):
        return Path(self.guest.disk).parent


@dataclass
class ProjectPlan:
    project: str
    pool: str
    folder: Path
    networks: list = field(default_factory=list)    # NetworkDefinition
    hosts: list = field(default_factory=list)       # HostPlan
    warnings: list = field(default_factory=list)


def where(host):
    return f"{host.position}: " if host.position else ""


def plan_project(spec, conf, hypervisor, images, hosts=None):
    """`hosts`: the HostSpecs this service host builds (all of them by default)."""
    hosts = list(spec.hosts.values()) if hosts is None else hosts
    folder = Path(conf.projects) / spec.name
    plan = ProjectPlan(spec.name, definitions.pool_name(spec.name), folder)
    plan.networks = plan_networks(spec, hosts, conf, hypervisor)
    domain_type = hypervisor.domain_type(conf.kvm)
    plan.hosts = [plan_host(spec.name, host, conf, hypervisor, images, folder, domain_type) for host in hosts]
    check_free_space(plan, hypervisor)
    return plan


def switches_used(spec, hosts):
    names = {i.switch for h in hosts for i in h.interfaces if i.switch}
    return [s for name, s in spec.switches.items() if name in names]


def plan_networks(spec, hosts, conf, hypervisor):
    networks, taken = [], []
    for switch in switches_used(spec, hosts):
        name = definitions.object_name(spec.name, switch.name)
        network = definitions.NetworkDefinition(spec.name, switch.name, name,
                                                definitions.bridge_name(spec.name, switch.name), switch.bridge)
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
    macs = {i.name: definitions.mac_address(project, host.name, i.name) for i in host.interfaces if i.switch}
    name = definitions.object_name(project, host.name)
    disk = disk_folder(project, host, folder) / f"{host.name}.qcow2"
    guest = definitions.GuestDefinition(
        project=project, host=host.name, name=name, domain_type=domain_type, memory=memory,
        vcpus=host.vcpus or 1, disk=str(disk), seed=str(folder / f"{host.name}.seed.img"),
        console_log=str(folder / f"{host.name}.console.log"), vnc_listen=conf.listen_address,
        vnc_password=vnc_password(host, warnings) or hypervisor.vnc_password(name) or secrets.token_urlsafe(6),
        vnc_port=5900 + host.vncdisplay if host.vncdisplay is not None else None,
        arch=hypervisor.arch(),
        nics=[definitions.Nic(macs[i.name], definitions.object_name(project, i.switch))
              for i in host.interfaces if i.switch],
    )
    if image.boot == "pv":
        guest.kernel, guest.initrd = pv_boot(host, conf, image)
    plan = HostPlan(host, image, disk.name, capacity, guest, macs, warnings, definitions.pool_name(project))
    if disk.parent != folder:  # `filepath`: a volume of the project's pool for that folder
        plan.volume, plan.pool = str(disk), definitions.location_pool_name(plan.pool, disk.parent)
    return plan


def disk_folder(project, host, folder):
    """Where the host's disk lives: DIR/<project> for `filepath DIR`, the project's folder otherwise.

    Nothing is made here: a folder that cannot be made is refused before the build starts."""
    if not host.filepath:
        return folder
    if not os.path.isabs(host.filepath):
        raise PlanError(f"{where(host)}host {host.name}: filepath {host.filepath!r} is not an absolute path")
    wanted = Path(os.path.normpath(Path(host.filepath) / project))
    if wanted == Path(os.path.normpath(folder)):
        return folder
    parent = existing_parent(wanted)
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        what = "is not a folder" if not parent.is_dir() else "is not writable"
        raise PlanError(f"{where(host)}host {host.name}: filepath {host.filepath}: cannot make {wanted} "
                        f"({parent} {what})")
    return wanted


def vnc_password(host, warnings):
    """VNC's password is 8 characters (libvirt refuses more); a course's `@random` makes 12 or more."""
    if host.vncpasswd and len(host.vncpasswd) > VNC_PASSWORD_MAX:
        warnings.append(f"vncpasswd: VNC takes {VNC_PASSWORD_MAX} characters; the console's password is the first "
                        f"{VNC_PASSWORD_MAX}")
        return host.vncpasswd[:VNC_PASSWORD_MAX]
    return host.vncpasswd


def pv_boot(host, conf, image):
    if not conf.kernel:
        raise PlanError(f"{where(host)}host {host.name}: template {image.name} boots pv, "
                        f"and {conf.path} sets no kernel")
    return str(conf.kernel), str(conf.initrd) if conf.initrd else None


def disk_capacity(host, conf, image, warnings):
    wanted = host.size or conf.default_size or image.virtual_size
    if wanted < image.virtual_size:
        warnings.append(f"size {wanted} bytes is below template {image.name}'s {image.virtual_size}: kept the template's")
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
            raise PlanError(f"{where(host.spec)}host {host.spec.name}: free_space {wanted // MiB} MiB wanted, "
                            f"the storage has {free // MiB} MiB free")


def existing_parent(path):
    path = Path(path)
    while not path.exists():
        path = path.parent
    return path
