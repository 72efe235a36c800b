"""The libvirt XML of a project: domains, networks, storage pools, volumes.

Written with ElementTree, never by formatting strings: names, passwords and
paths come from uploaded files. Plain data in (the dataclasses below), XML
text out; nothing here talks to libvirt.

Every domain and network carries `<metadata><mln:object project=... name=.../>`
so the daemon can list a project's objects without trusting name prefixes.
"""

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

METADATA_NS = "http://mln.example.org/xmlns/libvirt/1"
ET.register_namespace("mln", METADATA_NS)

# Direct kernel boot of a `pv` template: the root is the whole first disk. `no_timer_check`: under
# TCG on a busy host (a whole course starting at once) the kernel's IO-APIC timer check fails and it
# panics ("IO-APIC + timer doesn't work"); the check is skipped, as cloud images do.
PV_CMDLINE = "root=/dev/vda console=tty1 console=ttyS0 no_timer_check"


def short_hash(*parts, length=12):
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def object_name(project, name):
    """Domains and networks are `<project>.<name>`: readable in `virsh list`."""
    return f"{project}.{name}"


def pool_name(project):
    return f"mln.{project}"


def project_of_pool(pool):
    """The project of its own pool's name (not of a location pool's)."""
    return pool.removeprefix("mln.")


def location_pool_name(pool, folder):
    """The project's pool for disks in another folder (`filepath DIR`): `<pool>.<hash of the folder>`.

    Project names have no dots, so no other project's pool has this form; the hash of the
    pool's own target path proves a pool of that form is the one we made for that folder.
    """
    return f"{pool}.{short_hash(str(folder), length=8)}"


def bridge_name(project, switch):
    # Linux limits bridge names to 15 characters: "mln" + 12 hex digits.
    return "mln" + short_hash(project, switch)


def mac_address(project, host, interface):
    """Stable across rebuilds; 52:54 is locally administered (QEMU's prefix)."""
    digest = short_hash(project, host, interface, length=8)
    return "52:54:" + ":".join(digest[i : i + 2] for i in range(0, 8, 2))


@dataclass
class Nic:
    mac: str
    network: str  # the libvirt network of the switch


@dataclass
class GuestDefinition:
    project: str
    host: str
    name: str  # the libvirt domain
    domain_type: str  # kvm, qemu, test...
    memory: int  # bytes
    vcpus: int
    disk: str  # path of the qcow2 overlay
    seed: str | None  # path of the guest configuration image
    console_log: str
    vnc_listen: str
    vnc_password: str
    vnc_port: int | None = None  # None: a free port
    kernel: str | None = None  # direct kernel boot (pv templates)
    initrd: str | None = None
    cmdline: str = PV_CMDLINE
    arch: str | None = None
    uuid: str | None = None  # kept when a domain is redefined
    nics: list[Nic] = field(default_factory=list)


@dataclass
class NetworkDefinition:
    project: str
    switch: str
    name: str
    bridge: str
    host_bridge: str | None = None  # `bridge IFACE`: the host's existing bridge
    nat_subnet: object | None = None  # ipaddress.IPv4Network for `nat` switches


def text(parent, tag, value=None, **attrs):
    element = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items() if v is not None})
    if value is not None:
        element.text = str(value)
    return element


def to_xml(element):
    return ET.tostring(element, encoding="unicode")


def metadata(parent, project, name):
    holder = text(parent, "metadata")
    text(holder, f"{{{METADATA_NS}}}object", project=project, name=name)


def domain_xml(guest: GuestDefinition):
    domain = ET.Element("domain", type=guest.domain_type)
    text(domain, "name", guest.name)
    if guest.uuid:
        text(domain, "uuid", guest.uuid)
    metadata(domain, guest.project, guest.host)
    text(domain, "memory", guest.memory // 1024, unit="KiB")
    text(domain, "vcpu", guest.vcpus)
    os_element(domain, guest)
    features = text(domain, "features")
    text(features, "acpi")
    text(features, "apic")
    text(domain, "on_poweroff", "destroy")
    devices(text(domain, "devices"), guest)
    return to_xml(domain)


def os_element(domain, guest):
    os_ = text(domain, "os")
    text(os_, "type", "hvm", arch=guest.arch)
    if guest.kernel:
        text(os_, "kernel", guest.kernel)
        if guest.initrd:
            text(os_, "initrd", guest.initrd)
        text(os_, "cmdline", guest.cmdline)
    else:
        text(os_, "boot", dev="hd")


def devices(parent, guest):
    disk(parent, guest.disk, "qcow2", "vda")
    if guest.seed:
        disk(parent, guest.seed, "raw", "vdb", readonly=True)
    for nic in guest.nics:
        interface = text(parent, "interface", type="network")
        text(interface, "mac", address=nic.mac)
        text(interface, "source", network=nic.network)
        text(interface, "model", type="virtio")
    serial = text(parent, "serial", type="pty")
    text(serial, "log", file=guest.console_log, append="on")
    text(serial, "target", port=0)
    console = text(parent, "console", type="pty")
    text(console, "target", type="serial", port=0)
    graphics(parent, guest)
    text(text(parent, "video"), "model", type="vga")


def disk(parent, path, fmt, target, readonly=False):
    element = text(parent, "disk", type="file", device="disk")
    text(element, "driver", name="qemu", type=fmt)
    text(element, "source", file=path)
    text(element, "target", dev=target, bus="virtio")
    if readonly:
        text(element, "readonly")


def graphics(parent, guest):
    fixed = guest.vnc_port is not None
    element = text(
        parent,
        "graphics",
        type="vnc",
        port=guest.vnc_port if fixed else -1,
        autoport="no" if fixed else "yes",
        listen=guest.vnc_listen,
        passwd=guest.vnc_password,
    )
    text(element, "listen", type="address", address=guest.vnc_listen)


def network_xml(network: NetworkDefinition):
    element = ET.Element("network")
    text(element, "name", network.name)
    metadata(element, network.project, network.switch)
    if network.host_bridge:
        text(element, "forward", mode="bridge")
        text(element, "bridge", name=network.host_bridge)
        return to_xml(element)
    text(element, "bridge", name=network.bridge, stp="off")
    if network.nat_subnet is not None:
        nat(element, network.nat_subnet)
    return to_xml(element)


def nat(element, subnet):
    hosts = list(subnet.hosts())
    text(element, "forward", mode="nat")
    ip = text(element, "ip", address=hosts[0], netmask=subnet.netmask)
    text(text(ip, "dhcp"), "range", start=hosts[1], end=hosts[-1])


def pool_xml(name, path):
    element = ET.Element("pool", type="dir")
    text(element, "name", name)
    text(text(element, "target"), "path", path)
    return to_xml(element)


def overlay_xml(name, capacity, backing_path, backing_format):
    """A qcow2 linked clone of a template: libvirt runs `qemu-img create -b`."""
    element = ET.Element("volume")
    text(element, "name", name)
    text(element, "capacity", capacity, unit="bytes")
    target = text(element, "target")
    text(target, "format", type="qcow2")
    # qcow2 v3, as `qemu-img create` makes by default; without it libvirt writes v2 (compat 0.10).
    text(target, "compat", "1.1")
    backing = text(element, "backingStore")
    text(backing, "path", backing_path)
    text(backing, "format", type=backing_format)
    return to_xml(element)


def read_metadata(xml):
    """(project, name) from a domain's or network's XML, None if not ours."""
    found = ET.fromstring(xml).find(f"metadata/{{{METADATA_NS}}}object")
    return None if found is None else (found.get("project"), found.get("name"))


def vnc_port_of(xml):
    found = ET.fromstring(xml).find("devices/graphics[@type='vnc']")
    port = int(found.get("port", "-1")) if found is not None else -1
    return port if port > 0 else None


def vnc_password_of(xml):
    found = ET.fromstring(xml).find("devices/graphics[@type='vnc']")
    return None if found is None else found.get("passwd")


def macs_of(xml):
    return [m.get("address") for m in ET.fromstring(xml).findall("devices/interface/mac")]


def pool_path_of(xml):
    """The folder of a `dir` storage pool."""
    return ET.fromstring(xml).findtext("target/path")


def disk_paths_of(xml):
    """The files of a domain's disks (not its kernel or initrd: those are the host's own)."""
    return [s.get("file") for s in ET.fromstring(xml).findall("devices/disk/source") if s.get("file")]


def subnet_of(xml):
    """The (address, netmask) of a network's <ip>, None for isolated networks."""
    ip = ET.fromstring(xml).find("ip")
    return None if ip is None else (ip.get("address"), ip.get("netmask") or ip.get("prefix"))
