"""The typed model of one resolved project.

`build_spec(tree)` turns the resolved tree (the JSON of `mln expand`) into
these dataclasses, converting units and running the checks of the language
contract's "Checks after expansion". Everything downstream (courses, the
daemon, the portal) works on a ProjectSpec, never on the raw tree.

Unknown keys are not errors: each spec keeps its whole resolved block in
`settings`, so plugins and guest configuration can read what they own.
"""

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Position:
    file: str
    line: int
    col: int

    def __str__(self):
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class InterfaceSpec:
    name: str                       # "eth0"
    switch: str | None = None       # a switch of the project
    address: str | None = None      # "dhcp", "auto" or an IPv4 address
    netmask: str | None = None      # dotted quad
    gateway: str | None = None
    settings: dict = field(default_factory=dict)


@dataclass
class HostSpec:
    name: str
    template: str | None = None     # a registered template name; defaults apply at build time
    memory: int | None = None       # bytes
    size: int | None = None         # bytes, the disk's virtual size
    free_space: int | None = None   # bytes the storage must have free before the build
    vcpus: int = 1
    virtualization: str | None = None   # "xen", "vmware", "uml" or "kvm" as written
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
    nat: bool = False               # DHCP and outbound NAT on a subnet from the daemon's pool
    bridge: str | None = None       # the host's existing bridge instead of an isolated network
    settings: dict = field(default_factory=dict)
    position: Position | None = None


@dataclass
class ProjectSpec:
    name: str
    global_settings: dict = field(default_factory=dict)
    hosts: dict[str, HostSpec] = field(default_factory=dict)      # in file order
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
            name: SwitchSpec(**{**s, "position": position(s.get("position"))})
            for name, s in data["switches"].items()
        }
        return cls(name=data["name"], global_settings=data["global_settings"], hosts=hosts, switches=switches)
