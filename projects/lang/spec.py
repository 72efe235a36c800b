"""The typed model of one resolved project.

`build_spec(tree)` turns the resolved tree (the JSON of `mln expand`) into
these dataclasses, converting units and running the checks of the language
contract's "Checks after expansion". Everything downstream (courses, the
daemon, the portal) works on a ProjectSpec, never on the raw tree.

Unknown keys are not errors: each spec keeps its whole resolved block in
`settings`, so plugins and guest configuration can read what they own.
"""

import ipaddress
import re
from dataclasses import asdict, dataclass, field

from .errors import ErrorList, Position
from .plugins import host_plugins


@dataclass
class InterfaceSpec:
    name: str  # "eth0"
    switch: str | None = None  # a switch of the project
    address: str | None = None  # "dhcp", "auto" or an IPv4 address
    netmask: str | None = None  # dotted quad
    gateway: str | None = None
    settings: dict = field(default_factory=dict)


@dataclass
class HostSpec:
    name: str
    template: str | None = None  # a registered template name; defaults apply at build time
    memory: int | None = None  # bytes
    size: int | None = None  # bytes, the disk's virtual size
    free_space: int | None = None  # bytes the storage must have free before the build
    vcpus: int = 1
    virtualization: str | None = None  # "xen", "vmware", "uml" or "kvm" as written
    hvm: bool = False
    lvm: bool = False
    lvm_vg: str | None = None
    filepath: str | None = None
    nameserver: str | None = None
    interfaces: list[InterfaceSpec] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)  # name -> password or crypt hash
    root_passwd: str | None = None
    vncpasswd: str | None = None
    vncdisplay: int | None = None
    service_host: str | None = None
    plugins: dict[str, dict] = field(default_factory=dict)  # host plugin blocks: apache, sshkey, ...
    settings: dict = field(default_factory=dict)  # the whole resolved host block
    position: Position | None = None  # where the host is defined (for build-time errors)


@dataclass
class SwitchSpec:
    name: str
    nat: bool = False  # DHCP and outbound NAT on a subnet from the daemon's pool
    bridge: str | None = None  # the host's existing bridge instead of an isolated network
    settings: dict = field(default_factory=dict)
    position: Position | None = None


@dataclass
class ProjectSpec:
    name: str
    global_settings: dict = field(default_factory=dict)
    hosts: dict[str, HostSpec] = field(default_factory=dict)  # in file order
    switches: dict[str, SwitchSpec] = field(default_factory=dict)  # in file order

    def to_dict(self):
        """Plain JSON-able data, for a database row or an RQ job."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        def position(p):
            return Position(**p) if p else None

        hosts = {
            name: HostSpec(
                **{
                    **h,
                    "interfaces": [InterfaceSpec(**i) for i in h["interfaces"]],
                    "position": position(h.get("position")),
                }
            )
            for name, h in data["hosts"].items()
        }
        switches = {
            name: SwitchSpec(**{**s, "position": position(s.get("position"))}) for name, s in data["switches"].items()
        }
        return cls(name=data["name"], global_settings=data["global_settings"], hosts=hosts, switches=switches)


# --- resolved tree -> ProjectSpec -------------------------------------------

_SIZE = re.compile(r"([0-9]{1,18}(?:\.[0-9]{1,18})?)([KMGT]?)B?\Z", re.IGNORECASE)
# A project name becomes file names, libvirt object and pool names
# (`mln.<project>`, `<project>.<host>`) and URL parts. No dots: the daemon's
# names are split at dots (definitions.location_pool_name). One rule, used by
# the language and by courses.
PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}\Z")
# Linux interface names: at most 15 characters (IFNAMSIZ), no blanks, slashes or colons;
# they become keys of the guest's network configuration.
INTERFACE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,14}\Z")
_POWERS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4}
VIRTUALIZATIONS = ("xen", "vmware", "uml", "kvm")
SIZES = ("memory", "size", "free_space")
NO_POSITION = Position("<tree>", 1, 1)


def parse_size(text):
    """`128M`, `2GB`, `256MB`, `512` -> bytes (powers of 1024); None when unreadable."""
    match = _SIZE.match(text) if isinstance(text, str) else None
    if not match:
        return None
    return int(float(match.group(1)) * 1024 ** _POWERS[match.group(2).upper()])


def is_ipv4(text):
    try:
        ipaddress.IPv4Address(text)
    except (ipaddress.AddressValueError, TypeError):
        return False
    return True


def build_spec(tree):
    """The typed project of a resolved tree, after every check of the contract."""
    errors = ErrorList()
    name = tree.get("project")
    if not isinstance(name, str) or not name:
        errors.add(
            _where(tree, "project"), "no project name: add `project NAME` to the global block", "missing-project"
        )
    elif not PROJECT_NAME.match(name):
        errors.add(
            _where(tree, "project"),
            f"project name {name!r} is not usable: letters, digits, '_' and '-', "
            "starting with a letter or digit, at most 100",
            "invalid-name",
        )
    switches = {n: _switch(n, s, tree["switches"]) for n, s in tree["switches"].items()}
    plugin_keys = set(host_plugins())
    hosts = {n: _host(n, h, tree["hosts"], switches, plugin_keys, errors) for n, h in tree["hosts"].items()}
    errors.raise_if_any()
    return ProjectSpec(name=name, global_settings=_plain(tree.get("global", {})), hosts=hosts, switches=switches)


def _switch(name, block, table):
    bridge = block.get("bridge")
    return SwitchSpec(
        name=name,
        nat=block.get("nat") is True,
        bridge=bridge if isinstance(bridge, str) else None,
        settings=_plain(block),
        position=_keypos(table, name),
    )


def _host(name, block, table, switches, plugin_keys, errors):
    host = HostSpec(name=name, settings=_plain(block), position=_keypos(table, name))
    for key in SIZES:
        if key in block:
            size = parse_size(block[key])
            if size is None:
                errors.add(
                    _where(block, key),
                    f"{key} {_shown(block[key])!r} of host {name} is not a size "
                    "(a number with K, M, G or T, optionally followed by B: 128M, 2GB)",
                    "bad-size",
                )
            setattr(host, key, size)
    for key in ("template", "lvm_vg", "filepath", "nameserver", "root_passwd", "vncpasswd", "service_host"):
        if isinstance(block.get(key), str):
            setattr(host, key, block[key])
    bad = [server for server in (host.nameserver or "").split() if not is_ipv4(server)]
    if bad or block.get("nameserver") is True:
        errors.add(
            _where(block, "nameserver"),
            f"nameserver {_shown(bad[0] if bad else True)!r} of host {name} is not an IPv4 address",
            "bad-address",
        )
    host.virtualization = next((v for v in block if v in VIRTUALIZATIONS and block[v] is True), None)
    host.hvm, host.lvm = block.get("hvm") is True, block.get("lvm") is True
    host.vcpus = _number(block, "vcpus", name, errors, default=1)
    host.vncdisplay = _number(block, "vncdisplay", name, errors)
    host.users = _users(block, name, errors)
    host.interfaces = _interfaces(block, name, switches, errors)
    host.plugins = {key: _plain(value) for key, value in block.items() if key in plugin_keys}
    return host


def _number(block, key, host, errors, default=None):
    value = block.get(key)
    if value is None:
        return default
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    errors.add(_where(block, key), f"{key} of host {host} must be a whole number", "bad-value")
    return default


def _users(block, host, errors):
    users = block.get("users", {})
    if not isinstance(users, dict):
        errors.add(_where(block, "users"), f"users of host {host} is a block: `users {{ NAME PASSWORD }}`", "bad-value")
        return {}
    for user, password in users.items():
        if not isinstance(password, str):
            errors.add(_where(users, user), f"user {user} of host {host} needs a password", "bad-value")
    return {user: password for user, password in users.items() if isinstance(password, str)}


def _interfaces(block, host, switches, errors):
    network = block.get("network", {})
    if not (isinstance(network, dict) and all(isinstance(nic, dict) for nic in network.values())):
        errors.add(
            _where(block, "network"), f"network of host {host} is a named block: `network eth0 {{ }}`", "bad-value"
        )
        return []
    interfaces = []
    for name, nic in network.items():
        address, netmask, switch = nic.get("address"), nic.get("netmask"), nic.get("switch")
        gateway = nic.get("gateway")
        if not INTERFACE_NAME.match(name):
            errors.add(
                _where(network, name),
                f"interface name {name!r} of host {host} is not usable: a letter, then "
                "letters, digits, '_', '.' or '-', at most 15 characters",
                "invalid-name",
            )
        if gateway is not None and not is_ipv4(gateway):
            errors.add(
                _where(nic, "gateway"),
                f"gateway {_shown(gateway)!r} of host {host} {name} is not an IPv4 address",
                "bad-address",
            )
        if address is not None and address not in ("dhcp", "auto") and not is_ipv4(address):
            errors.add(
                _where(nic, "address"),
                f"address {_shown(address)!r} of host {host} {name} is not dhcp, auto or an IPv4 address",
                "bad-address",
            )
        if netmask is not None and not is_ipv4(netmask):
            errors.add(
                _where(nic, "netmask"),
                f"netmask {_shown(netmask)!r} of host {host} {name} is not a dotted quad",
                "bad-netmask",
            )
        if switch is not None and switch not in switches:
            errors.add(
                _where(nic, "switch"),
                f"switch {_shown(switch)!r} of host {host} {name} is not defined",
                "unknown-switch",
            )
        text = {
            k: v if isinstance(v, str) else None
            for k, v in (("address", address), ("netmask", netmask), ("switch", switch), ("gateway", gateway))
        }
        interfaces.append(InterfaceSpec(name=name, settings=_plain(nic), **text))
    return interfaces


def _where(block, key):
    """Where a key's value was written, when the tree still knows (a tree read from JSON does not)."""
    valpos = getattr(block, "valpos", {})
    return valpos.get(key) or getattr(block, "pos", None) or NO_POSITION


def _keypos(table, name):
    return getattr(table, "keypos", {}).get(name)


def _shown(value):
    return value if isinstance(value, str) else "(a flag or a block)"


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
