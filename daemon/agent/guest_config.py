"""Per-host guest configuration, written as a cloud-init NoCloud seed.

Why NoCloud: it is the one configuration format that every cloud image
already reads at boot, from nothing more than a small disk labelled `cidata`
holding `meta-data`, `user-data` and `network-config`. The same seed
configures our tiny template (its init script reads these files) and any
registered cloud image (cloud-init reads them), so the daemon writes one
format and never edits a guest's disk.

The image is an ISO 9660 filesystem with Joliet names, as `cloud-localds`
makes, written here in pure Python: forking mkisofs per host costs
milliseconds, this costs tens of microseconds, and the bytes depend on the
input only (a fixed date, salts derived from the input), so writing a seed
twice gives the same file.

The YAML is written by hand in one regular layout (every scalar a JSON
string, which YAML reads as a double-quoted scalar): valid for cloud-init,
and simple enough for the tiny template's busybox awk to read back. The one
key that comes from a course file, an interface's name, is written bare
because that awk reads it bare; it is safe only because it must be a plain
interface name (projects.lang.spec.INTERFACE_NAME), checked again here for
specs that did not come through the language (an import, a JSON row).
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import struct
import subprocess
import warnings
from pathlib import Path

from django.conf import settings

from projects.lang.spec import INTERFACE_NAME, HostSpec

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # glibc's crypt(3): fast; gone from Python 3.13, hence the fallback
except ImportError:
    crypt = None

SALT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# A value is already a crypt hash when it has the shape of one: MD5 ($1$),
# SHA-256 ($5$), SHA-512 ($6$), or traditional DES (13 characters).
CRYPT_HASH = re.compile(
    r"^\$1\$[./0-9A-Za-z]{0,8}\$[./0-9A-Za-z]{22}$"
    r"|^\$5\$(rounds=\d+\$)?[./0-9A-Za-z]{0,16}\$[./0-9A-Za-z]{43}$"
    r"|^\$6\$(rounds=\d+\$)?[./0-9A-Za-z]{0,16}\$[./0-9A-Za-z]{86}$"
    r"|^[./0-9A-Za-z]{13}$"
)
APACHE_CONF = "/etc/apache2/conf-enabled/mln-apache.conf"


class GuestConfigError(Exception):
    """A host's configuration cannot be written; names the host."""

    def __init__(self, host: HostSpec, message: str):
        where = f" ({host.position})" if host.position else ""
        super().__init__(f"host {host.name}{where}: {message}")


# --- passwords ------------------------------------------------------------------


def is_crypt_hash(value: str) -> bool:
    return bool(CRYPT_HASH.match(value))


def hash_password(value: str, salt: str | None = None) -> str:
    """A crypt hash kept as it is; plain text hashed with SHA-512 crypt ($6$)."""
    if is_crypt_hash(value):
        return value
    salt = salt or "".join(secrets.choice(SALT_ALPHABET) for _ in range(16))
    hashed = crypt.crypt(value, f"$6${salt}") if crypt else openssl_sha512_crypt(value, salt)
    if not hashed or not hashed.startswith("$6$"):
        raise ValueError("SHA-512 crypt is not available on this machine")
    return hashed


def openssl_sha512_crypt(value: str, salt: str) -> str:
    # The password goes through stdin, never the command line (visible in ps).
    result = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
        input=value + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def derived_salt(*parts: str) -> str:
    """A salt that is the same for the same input, so a seed written twice is the same.

    Keyed with the site's secret: a salt computed from the password alone would
    be a fast unsalted hash of it, published beside the slow one.
    """
    digest = hmac.new(settings.SECRET_KEY.encode(), "\0".join(parts).encode(), hashlib.sha256).digest()
    return "".join(SALT_ALPHABET[b % 64] for b in digest[:16])


# --- the three files --------------------------------------------------------------


def q(value) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is a subset of it)."""
    return json.dumps(str(value), ensure_ascii=False)


def flow(values) -> str:
    return "[" + ", ".join(q(v) for v in values) + "]"


def prefix_length(host: HostSpec, netmask: str | None) -> int:
    if not netmask:
        return 24  # the language's rule for a bare A.B.C.D net
    try:
        return ipaddress.IPv4Network(f"0.0.0.0/{netmask}").prefixlen
    except ValueError:
        raise GuestConfigError(host, f"netmask {netmask!r} is not a dotted quad mask") from None


def network_config(host: HostSpec, macs: dict[str, str]) -> str:
    """Version 2 network configuration: one ethernet per interface, matched by MAC."""
    nameservers = (host.nameserver or "").split()
    lines = ["version: 2", "ethernets:"]
    for nic in host.interfaces:
        if not INTERFACE_NAME.match(nic.name):
            raise GuestConfigError(host, f"interface name {nic.name!r} is not a plain interface name")
        lines.append(f"  {q(nic.name)}:")  # a key from the course file: quoted like every value
        start = len(lines)
        if nic.name in macs:
            # Match by MAC and rename: the guest's own names follow PCI order, ours the file's.
            lines += ["    match:", f"      macaddress: {q(macs[nic.name].lower())}", f"    set-name: {q(nic.name)}"]
        if nic.address == "dhcp":
            lines.append("    dhcp4: true")
        elif nic.address:
            try:
                address = ipaddress.IPv4Address(nic.address)
            except ValueError:
                raise GuestConfigError(host, f"{nic.name}: address {nic.address!r} is not dhcp or IPv4") from None
            lines += ["    dhcp4: false", f"    addresses: {flow([f'{address}/{prefix_length(host, nic.netmask)}'])}"]
            if nic.gateway:
                lines.append(f"    routes: [{{to: {q('0.0.0.0/0')}, via: {q(nic.gateway)}}}]")
        if nic.address and nameservers:
            lines.append(f"    nameservers: {{addresses: {flow(nameservers)}}}")
        if len(lines) == start:
            lines[-1] += " {}"  # nothing to say about it: still a mapping, not null
    if not host.interfaces:
        lines[-1] = "ethernets: {}"
    return "\n".join(lines) + "\n"


def meta_data(project_name: str, host: HostSpec, digest: str) -> str:
    # A new instance-id when the configuration changes makes cloud-init apply it again.
    return f"instance-id: {q(f'{project_name}-{host.name}-{digest[:12]}')}\nlocal-hostname: {q(host.name)}\n"


def user_data(project_name: str, host: HostSpec, files_root: Path | None, runcmd) -> str:
    lines = ["#cloud-config", f"# MLN: host {host.name} of project {project_name}"]
    passwords = dict(host.users)
    if host.root_passwd:
        passwords = {"root": host.root_passwd, **passwords}
    keys = ssh_keys(host, files_root)
    names = list(passwords) + [name for name in keys if name not in passwords]
    if names:
        lines.append("users:")
    for name in names:
        lines.append(f"  - name: {q(name)}")
        if name in passwords:
            salt = derived_salt(project_name, host.name, name, passwords[name])
            lines += ["    lock_passwd: false", f"    hashed_passwd: {q(hash_password(passwords[name], salt))}"]
        if name in keys:
            lines.append("    ssh_authorized_keys:")
            lines += [f"      - {q(key)}" for key in keys[name]]
    if names:
        # Listing root among the users is how MLN sets its password and keys;
        # disable_root would turn root's keys into a "log in as ..." message.
        lines += ["disable_root: false", "ssh_pwauth: true"]
    files = written_files(host)
    if files:
        lines.append("write_files:")
    for path, content in files:
        lines += [
            f"  - path: {q(path)}",
            f"    permissions: {q('0644')}",
            f"    encoding: {q('b64')}",
            f"    content: {q(base64.b64encode(content.encode()).decode())}",
        ]
    if runcmd:
        lines.append("runcmd:")
        lines += [f"  - {q(command)}" for command in runcmd]
    return "\n".join(lines) + "\n"


def ssh_keys(host: HostSpec, files_root: Path | None) -> dict[str, list[str]]:
    """The `sshkey { user /path/to/pubkey }` block: user -> the key file's lines."""
    keys = {}
    for user, paths in (host.plugins.get("sshkey") or {}).items():
        for path in [paths] if isinstance(paths, str) else paths:
            source = key_file(host, user, path, files_root)
            try:
                text = source.read_text()
            except FileNotFoundError:
                raise GuestConfigError(host, f"sshkey for {user}: no such key file {path}") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise GuestConfigError(host, f"sshkey for {user}: cannot read {path}: {exc}") from None
            lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
            if not lines:
                raise GuestConfigError(host, f"sshkey for {user}: {path} holds no key")
            keys.setdefault(user, []).extend(lines)
    return keys


def key_file(host: HostSpec, user: str, path: str, files_root: Path | None) -> Path:
    """Without a files folder the path is the daemon machine's; with one, it is inside it.

    A course's file must not read the daemon's own files (its keys, /etc/shadow).
    """
    if files_root is None:
        return Path(path)
    root = Path(files_root).resolve()
    source = (root / path.lstrip("/")).resolve()
    if not source.is_relative_to(root):
        raise GuestConfigError(host, f"sshkey for {user}: {path} is outside the files folder {root}")
    return source


def written_files(host: HostSpec) -> list[tuple[str, str]]:
    apache = host.plugins.get("apache")
    return [(APACHE_CONF, apache_conf(host, apache))] if apache else []


def apache_conf(host: HostSpec, block: dict) -> str:
    """The `apache { doc_root DIR; max_connections N }` block as a configuration snippet."""
    lines = [f"# Written by MLN for host {host.name} (apache plugin)."]
    doc_root = block.get("doc_root")
    if doc_root:
        if not doc_root.startswith("/") or re.search(r'["\\\s]', doc_root):
            raise GuestConfigError(host, f"apache: doc_root {doc_root!r} is not an absolute path without blanks")
        lines += [f'DocumentRoot "{doc_root}"', f'<Directory "{doc_root}">', "    Require all granted", "</Directory>"]
    limit = block.get("max_connections")
    if limit:
        if not str(limit).isdigit() or int(limit) < 1:
            raise GuestConfigError(host, f"apache: max_connections {limit!r} is not a positive number")
        if int(limit) > 256:
            lines.append(f"ServerLimit {int(limit)}")  # prefork's default limit is 256 workers
        lines.append(f"MaxRequestWorkers {int(limit)}")
    return "\n".join(lines) + "\n"


# --- the image ------------------------------------------------------------------


def write_seed(
    project_name: str,
    host: HostSpec,
    macs: dict[str, str],
    dest: Path,
    files_root: Path | None = None,
    runcmd: list[str] = (),
) -> Path:
    """Write the host's NoCloud seed image at dest (unchanged when already the same); dest.

    `runcmd`: shell commands the guest runs once, after it is configured.
    """
    dest = Path(dest)
    network = network_config(host, macs)
    user = user_data(project_name, host, files_root, list(runcmd))
    digest = hashlib.sha256(f"{user}\0{network}".encode()).hexdigest()
    image = iso9660(
        {
            "meta-data": meta_data(project_name, host, digest).encode(),
            "network-config": network.encode(),
            "user-data": user.encode(),
        },
        label="cidata",
    )
    if dest.exists() and dest.read_bytes() == image:
        return dest
    partial = dest.with_name(f".{dest.name}.partial")
    write_sparse(partial, image)
    os.replace(partial, dest)  # a guest starting now sees the old seed or the new one, never half
    return dest


def write_sparse(path: Path, image: bytes):
    """Most of a seed is zeros (16 sectors of system area): leave them as holes."""
    zero = bytes(SECTOR)
    with open(path, "wb") as f:
        for offset in range(0, len(image), SECTOR):
            chunk = image[offset : offset + SECTOR]
            if chunk != zero:
                f.seek(offset)
                f.write(chunk)
        f.truncate(len(image))


SECTOR = 2048
# A fixed date: the image then depends on its files only.
DATE = b"2000010100000000\x00"
RECORD_DATE = bytes([100, 1, 1, 0, 0, 0, 0])


def both16(n):
    return struct.pack("<H", n) + struct.pack(">H", n)


def both32(n):
    return struct.pack("<I", n) + struct.pack(">I", n)


def sectors(size):
    return (size + SECTOR - 1) // SECTOR


def directory_record(name: bytes, extent: int, size: int, is_dir=False) -> bytes:
    length = 33 + len(name) + (1 - len(name) % 2)  # padded to an even length
    record = (
        bytes([length, 0])
        + both32(extent)
        + both32(size)
        + RECORD_DATE
        + bytes([2 if is_dir else 0, 0, 0])
        + both16(1)
        + bytes([len(name)])
        + name
    )
    return record.ljust(length, b"\0")


def primary_name(name: str) -> bytes:
    """ISO 9660 level 1 (8.3, d-characters); readers with Joliet never see it."""
    stem, _, ext = name.upper().partition(".")
    clean = lambda s, n: re.sub(r"[^A-Z0-9_]", "_", s)[:n]  # noqa: E731
    return f"{clean(stem, 8)}.{clean(ext, 3)};1".encode()


def iso9660(files: dict[str, bytes], label: str) -> bytes:
    """An ISO 9660 image with Joliet names holding `files` in its root directory.

    Sectors: 16 volume descriptors: primary, Joliet, terminator; then the
    little- and big-endian path tables of each tree, the two root
    directories, and the files' contents, which both trees share.
    """
    names = sorted(files)
    extents, next_free = {}, 25
    for name in names:
        extents[name] = next_free
        next_free += sectors(len(files[name]))
    total = next_free
    trees = []
    for joliet, root_extent, path_tables in ((False, 23, (19, 20)), (True, 24, (21, 22))):
        encode = (lambda s: s.encode("utf-16-be")) if joliet else primary_name
        entries = sorted((encode(n), n) for n in names)
        records = (
            directory_record(b"\0", root_extent, SECTOR, True)
            + directory_record(b"\1", root_extent, SECTOR, True)
            + b"".join(directory_record(e, extents[n], len(files[n])) for e, n in entries)
        )
        if len(records) > SECTOR:
            raise ValueError("too many files for a one-sector root directory")
        trees.append((joliet, root_extent, path_tables, records))

    image = bytearray(total * SECTOR)

    def put(sector, data):
        image[sector * SECTOR : sector * SECTOR + len(data)] = data

    for joliet, root_extent, (l_table, m_table), records in trees:
        put(16 + joliet, volume_descriptor(joliet, label, total, root_extent, l_table, m_table))
        put(l_table, bytes([1, 0]) + struct.pack("<I", root_extent) + struct.pack("<H", 1) + b"\0\0")
        put(m_table, bytes([1, 0]) + struct.pack(">I", root_extent) + struct.pack(">H", 1) + b"\0\0")
        put(root_extent, records)
    put(18, b"\xffCD001\x01")
    for name in names:
        put(extents[name], files[name])
    return bytes(image)


def volume_descriptor(joliet, label, total, root_extent, l_table, m_table) -> bytes:
    def text(value, size):
        if joliet:  # UCS-2, big-endian, padded with UCS-2 blanks
            return value[: size // 2].ljust(size // 2).encode("utf-16-be").ljust(size, b"\0")
        return value.encode("ascii")[:size].ljust(size, b" ")

    descriptor = (
        bytes([2 if joliet else 1])
        + b"CD001\x01\0"
        + text("LINUX", 32)
        + text(label, 32)
        + bytes(8)
        + both32(total)
        + (b"%/E".ljust(32, b"\0") if joliet else bytes(32))  # Joliet: UCS-2 level 3
        + both16(1)
        + both16(1)
        + both16(SECTOR)
        + both32(10)
        + struct.pack("<I", l_table)
        + bytes(4)
        + struct.pack(">I", m_table)
        + bytes(4)
        + directory_record(b"\0", root_extent, SECTOR, True)
        + text("", 128)
        + text("", 128)
        + text("", 128)
        + text("MLN", 128)
        + text("", 37)
        + text("", 37)
        + text("", 37)
        + DATE
        + DATE
        + b"0" * 16
        + b"\0"
        + DATE
        + b"\1\0"
    )
    return descriptor.ljust(SECTOR, b"\0")
