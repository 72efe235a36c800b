"""mln.conf: the defaults of this service host's daemon and command line.

The article's Table 2: flat `key value` statements with the lexical rules of
`.mln` files (comments, quotes), a key may repeat (`daemon_status_query`).
Read from `MLN_CONF`, else `settings.MLN_CONF`, else `/etc/mln/mln.conf`;
a missing file means every default. `-P`, `-T` and `-F` on the command line
override the three folders.
"""

import ipaddress
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from django.conf import settings

from projects.lang import MlnError, parse_statements

DEFAULT_CONF = "/etc/mln/mln.conf"
VAR_DIR = Path(os.environ.get("MLN_VAR_DIR", Path(__file__).resolve().parent.parent / "var"))

MiB = 1024 * 1024
UNITS = {"": 1, "K": 1024, "M": MiB, "G": 1024 * MiB, "T": 1024 * 1024 * MiB}
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*$", re.IGNORECASE)
TRUE_WORDS = {"1", "yes", "true", "on"}


class ConfError(Exception):
    """mln.conf holds a value the daemon cannot use; names the file and line."""


@dataclass(frozen=True)
class MlnConf:
    path: str
    projects: Path = VAR_DIR / "projects"
    templates: Path = VAR_DIR / "templates"
    files: Path = VAR_DIR / "files"
    default_template: str = "tiny"
    default_memory: int = 128 * MiB
    default_size: int | None = None
    service_host: str = "localhost"
    libvirt_uri: str = "qemu:///system"
    kernel: Path | None = None
    initrd: Path | None = None
    listen_address: str = "127.0.0.1"
    nat_pool: ipaddress.IPv4Network = ipaddress.IPv4Network("10.200.0.0/16")
    # KVM is offered on these machines but guests hang in early boot (see
    # docs/hypervisor-notes.md), so TCG is the default; `kvm yes` opts in.
    kvm: bool = False
    # The cluster (docs: README "Cluster security", daemon/cluster/heartbeat.py, projects/placement.py).
    daemon_allow: tuple = ("127.0.0.1", "::1")  # submitter addresses, fnmatch patterns
    daemon_status_query: tuple = ()  # service hosts `mln daemon_status` always shows
    cluster_secret: str | None = None  # HMAC key of jobs; derived from SECRET_KEY when unset
    heartbeat_interval: float = 5.0  # seconds between a daemon's heartbeats
    heartbeat_ttl: float = 15.0  # a daemon silent this long is not alive
    daemon_wait: float = 60.0  # how long a job waits for a daemon that is not alive
    jobs_in_parallel: int = 4  # jobs one daemon runs at once (one project's jobs still one at a time)
    guest_memory: int | None = None  # memory offered to guests; libvirt's free memory when unset
    lvm_vg: str | None = None
    san_path: Path | None = None  # storage every service host reaches (live migration)
    transfer: Path = VAR_DIR / "transfer"  # a folder every daemon reaches (cold migration)
    migration_uri: str | None = None  # how other hosts' libvirtd reach this one (peer to peer)
    # Host resources a course file may choose, only among what the administrator allows here
    # (README "Cluster security"): a course file never picks a path, bridge or port on its own.
    storage_roots: tuple = ()  # folders under which `filepath DIR` may put disks
    lvm_allow: tuple = ()  # volume groups `lvm_vg` may name (besides lvm_vg)
    bridge_allow: tuple = ()  # host bridges a `bridge IFACE` switch may use
    vncdisplay_range: tuple | None = None  # (first, last) displays `vncdisplay N` may pin
    max_memory: int = 16 * 1024 * MiB  # per host
    max_vcpus: int = 8  # per host
    max_disk: int = 256 * 1024 * MiB  # per host, the disk's virtual size
    max_template: int = 64 * 1024 * MiB  # one template image file (admin upload, mln rt)
    max_manifest: int = 16 * MiB  # export.json of a folder `mln import` reads
    # Bounds of what one upload or command may make the web server or the command line do.
    max_upload: int = 1 * MiB  # one .mln file (master or include)
    max_table_upload: int = 4 * MiB  # the variable table, as uploaded
    max_table_rows: int = 1000  # groups of one course
    max_table_columns: int = 100  # variables of one table
    max_value_length: int = 4096  # characters of one variable's value, after expansion
    max_expansion: int = 4 * MiB  # characters of all variables' values of one project
    max_statements: int = 50000  # statements of one project after #include splicing
    max_hosts: int = 1000  # hosts of one project
    max_course_hosts: int = 5000  # hosts of all groups of one course
    parse_cache_bytes: int = 64 * MiB  # source text the per-process parse cache keeps
    expand_timeout: float = 60.0  # seconds an upload's expansion may take
    expand_memory: int = 1024 * MiB  # address space of the process that expands an upload
    console_buffer: int = 4 * MiB  # bytes in flight per console, each direction
    shutdown_timeout: int = 60  # seconds a guest has to answer a shut down (ACPI) before it is powered off
    statements: dict = field(default_factory=dict)  # every key -> list of values, as written

    @property
    def queue_name(self):
        return queue_name(self.service_host)


def queue_name(service_host: str) -> str:
    """The RQ queue of a service host's daemon: the one place its name is made."""
    return f"mln.{service_host}"


def parse_size(text):
    """`128M`, `2GB`, `256MB`, `1024` -> bytes."""
    match = SIZE.match(text or "")
    if not match:
        raise ValueError(f"not a size: {text!r}")
    return int(float(match[1]) * UNITS[match[2].upper()])


def parse_bounded(text, low, high):
    """A whole number within [low, high]."""
    number = int(text)
    if not low <= number <= high:
        raise ValueError(f"{number} is not between {low} and {high}")
    return number


def parse_range(text):
    """`100-199` -> (100, 199); one number is a range of one."""
    first, _, last = text.partition("-")
    first, last = int(first), int(last or first)
    if first < 0 or last < first:
        raise ValueError(f"not a range of display numbers: {text!r}")
    return first, last


def conf_path():
    if os.environ.get("MLN_CONF"):
        return os.environ["MLN_CONF"]
    return getattr(settings, "MLN_CONF", DEFAULT_CONF) if settings.configured else DEFAULT_CONF


def load(path=None, projects=None, templates=None, files=None) -> MlnConf:
    """The conf of this host; the three folders may be overridden (-P, -T, -F)."""
    path = str(path or conf_path())
    conf = from_statements(path, read_statements(path))
    overrides = {
        k: Path(v).resolve() for k, v in (("projects", projects), ("templates", templates), ("files", files)) if v
    }
    return replace(conf, **overrides)


def load_for_args(args):
    """The conf for a command line: its -P, -T and -F win over the file."""
    return load(
        projects=getattr(args, "projects_path", None),
        templates=getattr(args, "templates_path", None),
        files=getattr(args, "files_path", None),
    )


def read_statements(path):
    """[(key, value, line)] from the file, [] when there is none."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfError(f"{path}: {exc.strerror}") from exc

    try:
        return [(key, value, pos.line) for key, value, pos in parse_statements(text, path)]
    except MlnError as exc:
        raise ConfError(str(exc)) from exc


CONVERTERS = {
    "projects": Path,
    "templates": Path,
    "files": Path,
    "kernel": Path,
    "initrd": Path,
    "default_template": str,
    "default_memory": parse_size,
    "default_size": parse_size,
    "service_host": str,
    "libvirt_uri": str,
    "daemon_listen_address": str,
    "nat_pool": ipaddress.IPv4Network,
    "kvm": lambda v: v.lower() in TRUE_WORDS,
    "cluster_secret": str,
    "heartbeat_interval": float,
    "heartbeat_ttl": float,
    "daemon_wait": float,
    "jobs_in_parallel": lambda v: parse_bounded(v, 1, 64),
    "guest_memory": parse_size,
    "lvm_vg": str,
    "san_path": Path,
    "transfer": Path,
    "migration_uri": str,
    "vncdisplay_range": lambda v: parse_range(v),
    "max_memory": parse_size,
    "max_vcpus": int,
    "max_disk": parse_size,
    "max_template": parse_size,
    "max_manifest": parse_size,
    "max_upload": parse_size,
    "max_table_upload": parse_size,
    "max_table_rows": int,
    "max_table_columns": int,
    "max_value_length": int,
    "max_expansion": parse_size,
    "max_statements": int,
    "max_hosts": int,
    "max_course_hosts": int,
    "parse_cache_bytes": parse_size,
    "expand_timeout": float,
    "expand_memory": parse_size,
    "console_buffer": parse_size,
    "shutdown_timeout": lambda v: parse_bounded(v, 0, 3600),
}
# Keys that may repeat (Table 2 gives daemon_status_query twice); every value is kept, in order.
REPEATED = {"daemon_allow", "daemon_status_query", "storage_roots", "lvm_allow", "bridge_allow"}
# Repeated keys whose words are folders: kept as resolved Paths.
PATHS = {"storage_roots"}
FIELD_OF = {"daemon_listen_address": "listen_address"}


def from_statements(path, statements):
    values, seen = {}, {}
    for key, value, line in statements:
        seen.setdefault(key, []).append(value)
        if key in CONVERTERS:
            values[FIELD_OF.get(key, key)] = convert(path, line, key, value)
    for key in REPEATED & seen.keys():
        words = tuple(word for value in seen[key] for word in value.split())
        values[key] = tuple(Path(w) for w in words) if key in PATHS else words
    return MlnConf(path=path, statements=seen, **values)


def convert(path, line, key, value):
    try:
        return CONVERTERS[key](value)
    except ValueError as exc:
        raise ConfError(f"{path}:{line}: {key}: {exc}") from exc
