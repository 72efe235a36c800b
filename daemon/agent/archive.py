"""`mln export` and `mln import`: a project as a self-contained folder.

The folder holds the project file (`project.mln`), the resolved spec and
each host's boot mode (`export.json`), every host's disk as a standalone
qcow2 (`qemu-img convert`, compressed with `-z`), and `SHA256SUMS` over all
of them. An import checks every sum, and that no name leaves the folder,
before anything is made; each imported disk then backs a fresh overlay,
exactly like a template backs a built host's.

An import trusts nothing in the folder: anyone may have written it, sums
included. Before anything is made, every input is bounded by mln.conf; every
file name is one of the three above or `<host>.qcow2` with a host name of
the language's rule (letters, digits, hyphens), so a path is only ever built
from a checked name; the project's spec is rebuilt from the resolved blocks
the manifest carries through the language's own checks (and mln.conf's
`resource_problems`), never taken as written; and each disk is opened as
qcow2 explicitly (never probed) and refused if it names any other file
(backing or data file). The daemon checks again for itself, copies each disk
into the project's folder and checks the copy (the folder may change under
it), and a failed import undoes every step: files, pools, volumes, and
(projects/project_import.py) the database rows it wrote.
"""

import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from daemon.agent import disk_images as image_files
from daemon.agent.disk_images import file_sha256
from daemon.agent.errors import ArchiveError, JobError
from daemon.agent.plan import Image, resource_problems
from daemon.agent.steps import build_plan
from daemon.conf import MlnConf
from projects.choices import ProjectState
from projects.lang import PROJECT_NAME, MlnError, build_spec
from projects.lang.spec import ProjectSpec

SUMS, MANIFEST, SOURCE = "SHA256SUMS", "export.json", "project.mln"


# --- export -------------------------------------------------------------------------


def export_project(job):
    folder = Path(job.order.options["directory"])
    hosts = job.hosts()
    running = [h.name for h in hosts if job.hv.domain_state(job.domain(h)).state == "running"]
    if running:
        raise JobError(f"stop {', '.join(running)} first: a running guest's disk is not consistent")
    job.total = len(hosts) + 2
    folder.mkdir(parents=True, exist_ok=True)
    job.step("project file", "", partial(write_manifest, job, folder, hosts))
    for host in hosts:
        job.step("disk", host.name, partial(export_disk, job, host, folder))
    job.step("sums", "", partial(write_sums, folder, [SOURCE, MANIFEST] + [f"{h.name}.qcow2" for h in hosts]))


def write_manifest(job, folder, hosts):
    (folder / SOURCE).write_text(job.order.source)
    boots = {h.name: "pv" if job.hv.boots_kernel(job.domain(h)) else "hvm" for h in hosts}
    manifest = {
        "project": job.spec.name,
        "spec": job.spec.to_dict(),
        "disks": {name: {"file": f"{name}.qcow2", "boot": boot} for name, boot in boots.items()},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return True


def export_disk(job, host, folder, compress=None):
    """A standalone qcow2 of the overlay and everything under it."""
    compress = job.order.options.get("compress") if compress is None else compress
    source = job.hv.disk_path(job.domain(host))  # the overlay wherever it lives (`filepath`)
    target = folder / f"{host.name}.qcow2"
    partial_file = folder / f".{host.name}.qcow2.partial"
    command = ["qemu-img", "convert", "-U", "-O", "qcow2", *(["-c"] if compress else []), source, str(partial_file)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise OSError(0, f"qemu-img convert: {result.stderr.strip()}")
    partial_file.replace(target)
    return True


def write_sums(folder, names):
    (folder / SUMS).write_text("".join(f"{file_sha256(folder / name)}  {name}\n" for name in names))
    return True


# --- import: what a folder holds, checked before anything is made ---------------------

# The language's rule for host and switch names (projects/lang/resolve.py): a name here becomes a file name.
HOST_NAME = re.compile(r"[A-Za-z0-9-]{1,100}\Z")
SUMS_LINE = re.compile(r"([0-9a-f]{64})  (\S+)\Z")
SUMS_LINE_BYTES = 64 + 2 + 110  # a digest, two blanks, `<host>.qcow2`, a line break
BOOTS = ("pv", "hvm")
# Projects an import may fill: never one whose guests or disks may still exist.
IMPORTABLE_STATES = (ProjectState.NEW, ProjectState.REMOVED, ProjectState.FAILED)


@dataclass(frozen=True)
class Disk:
    host: str
    path: Path  # inside the export folder
    digest: str  # its SHA-256, as SHA256SUMS lists it
    boot: str  # pv or hvm
    virtual_size: int


@dataclass
class Archive:
    folder: Path
    source: str  # project.mln, as exported
    manifest: dict
    disks: dict  # host name -> Disk


def inside(folder, name):
    """The file `name` of the folder; refuses names that lead out of it."""
    path = (folder / name).resolve()
    if Path(name).is_absolute() or not path.is_relative_to(folder.resolve()) or path == folder.resolve():
        raise ArchiveError(f"{folder}: {name!r} leaves the folder")
    return path


def disk_file(host):
    return f"{host}.qcow2"


def verify(folder: str | Path, conf: MlnConf, hash_disks: bool = True) -> Archive:
    """The Archive of a folder whose files match SHA256SUMS and whose every input is within mln.conf.

    `hash_disks=False` leaves the disks' sums to whoever copies them (copy_disk hashes what it copies)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ArchiveError(f"{folder}: not a folder")
    listed = read_sums(folder, conf)
    for name in (SOURCE, MANIFEST):
        if name not in listed:
            raise ArchiveError(f"{folder}: {SUMS} does not list {name}")
        check_sum(folder, name, *listed[name])
    manifest = read_manifest(folder / MANIFEST, listed[MANIFEST][0], conf)
    source = read_bounded(listed[SOURCE][0], conf.max_upload, f"{folder}/{SOURCE}", "max_upload", conf).decode(
        errors="replace"
    )
    disks = read_disks(folder, manifest, listed, conf)
    if hash_disks:
        for disk in disks.values():
            check_sum(folder, disk_file(disk.host), disk.path, disk.digest)
    return Archive(folder, source, manifest, disks)


def read_sums(folder, conf):
    """{file name: (path, digest)} from SHA256SUMS; only names an export writes."""
    text = read_bounded(
        folder / SUMS, (conf.max_hosts + 2) * SUMS_LINE_BYTES, f"{folder}/{SUMS}", "max_hosts", conf
    ).decode(errors="replace")
    listed = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        match = SUMS_LINE.match(line)
        if not match:
            raise ArchiveError(f"{folder}/{SUMS}:{number}: not `SHA256  FILE`")
        digest, name = match.groups()
        if name in listed:
            raise ArchiveError(f"{folder}/{SUMS}:{number}: {name} is listed twice")
        listed[name] = (inside(folder, name), digest)
        if name not in (SOURCE, MANIFEST) and not (name.endswith(".qcow2") and HOST_NAME.match(name[:-6])):
            raise ArchiveError(
                f"{folder}/{SUMS}:{number}: {name!r} is not a file an export writes "
                f"({SOURCE}, {MANIFEST} or HOST.qcow2, a host name of letters, digits and hyphens)"
            )
    return listed


def read_bounded(path, limit, shown, key, conf):
    """At most `limit` bytes of a file; a longer one is refused naming the mln.conf key that bounds it."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise ArchiveError(f"{shown}: cannot be read: {exc.strerror}") from exc
    if len(data) > limit:
        raise ArchiveError(f"{shown}: larger than {limit} bytes ({key} of {conf.path})")
    return data


def check_sum(folder, name, path, digest):
    if not path.is_file() or file_sha256(path) != digest:
        raise ArchiveError(f"{folder}: {name} does not match its SHA-256 sum")


def read_manifest(shown, path, conf):
    try:
        manifest = json.loads(read_bounded(path, conf.max_manifest, str(shown), "max_manifest", conf))
    except ValueError as exc:
        raise ArchiveError(f"{shown}: cannot be read: {exc}") from exc
    if (
        not isinstance(manifest, dict)
        or not isinstance(manifest.get("disks"), dict)
        or not isinstance(manifest.get("spec"), dict)
    ):
        raise ArchiveError(f"{shown}: not an export's manifest (an object with `spec` and `disks`)")
    return manifest


def read_disks(folder, manifest, listed, conf):
    """{host: Disk} of the manifest, each a qcow2 that stands alone, within max_disk."""
    where = folder / MANIFEST
    if len(manifest["disks"]) > conf.max_hosts:
        raise ArchiveError(f"{where}: {len(manifest['disks'])} disks, above max_hosts {conf.max_hosts} of {conf.path}")
    disks = {}
    for host, disk in manifest["disks"].items():
        check_name("host", host, where)
        if not isinstance(disk, dict) or disk.get("file") != disk_file(host) or disk.get("boot") not in BOOTS:
            raise ArchiveError(
                f'{where}: the disk of host {host} must be {{"file": "{disk_file(host)}", "boot": "pv" or "hvm"}}'
            )
        if disk_file(host) not in listed:
            raise ArchiveError(f"{folder}: the disk of {host} ({disk_file(host)}) has no sum")
        path, digest = listed[disk_file(host)]
        disks[host] = Disk(host, path, digest, disk["boot"], checked_disk(path, conf))
    return disks


def check_name(kind, name, where):
    """A host or switch name of the language's rule: it becomes a file name and libvirt names."""
    if not isinstance(name, str) or not HOST_NAME.match(name):
        raise ArchiveError(f"{where}: {kind} name {name!r} may hold letters, digits and hyphens only")


def checked_disk(path, conf):
    """The virtual size of a disk opened as qcow2 (never probed) that names no other file."""
    try:
        info = image_files.qcow2_info(path)
        sizes = (("file", path.stat().st_size), ("disk", info["virtual-size"]))
    except (image_files.ImageError, OSError, KeyError) as exc:
        raise ArchiveError(f"{path}: {exc!r}" if isinstance(exc, KeyError) else str(exc)) from exc
    for what, size in sizes:
        if size > conf.max_disk:
            raise ArchiveError(
                f"{path}: a {what} of {size} bytes is above max_disk ({conf.max_disk} bytes) of {conf.path}"
            )
    return info["virtual-size"]


# --- import: the project the folder describes ------------------------------------------


def spec_from_manifest(archive: Archive, name: str, conf: MlnConf) -> tuple[dict, ProjectSpec]:
    """The project's spec rebuilt by the language from the resolved blocks the manifest carries.

    Only the resolved blocks are read: typed fields, positions and the old site's placement are
    derived again, so what is imported has passed every check a `.mln` file's project passes.
    """
    where = archive.folder / MANIFEST
    tree = tree_of(archive.manifest["spec"], name, where, conf)
    try:
        spec = build_spec(tree)
    except MlnError as exc:
        errors = getattr(exc, "errors", None) or [exc]
        raise ArchiveError("\n".join(f"{where}: {e.message}" for e in errors)) from exc
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ArchiveError(f"{where}: the spec is not a project's resolved blocks ({exc!r})") from exc
    check_resources(spec, where, conf)
    return tree, spec


def tree_of(spec, name, where, conf):
    """The resolved tree (as `mln expand` prints it) of a manifest's spec, its names checked."""
    hosts, switches, global_block = spec.get("hosts"), spec.get("switches"), spec.get("global_settings")
    if not all(isinstance(part, dict) for part in (hosts, switches, global_block)):
        raise ArchiveError(f"{where}: the spec needs `hosts`, `switches` and `global_settings` objects")
    if len(hosts) > conf.max_hosts:
        raise ArchiveError(f"{where}: {len(hosts)} hosts, above max_hosts {conf.max_hosts} of {conf.path}")
    tree = {"project": name, "global": {**global_block, "project": name}, "hosts": {}, "switches": {}}
    for kind, key, table in (("host", "hosts", hosts), ("switch", "switches", switches)):
        for entry_name, entry in table.items():
            check_name(kind, entry_name, where)
            if not isinstance(entry, dict) or not isinstance(entry.get("settings"), dict):
                raise ArchiveError(f"{where}: {kind} {entry_name} has no resolved block (`settings`)")
            tree[key][entry_name] = entry["settings"]
    return tree


def check_resources(spec, where, conf):
    """What mln.conf lets a project ask of this host (folders, bridges, displays, sizes)."""
    problems = resource_problems(spec, conf)
    if problems:
        raise ArchiveError("\n".join(f"{where}: {problem}" for problem in problems))


def check_project_name(name):
    if not PROJECT_NAME.match(name or ""):
        raise ArchiveError(f"project name {name!r} is not usable: letters, digits, '_' and '-', at most 100")


# --- import: the daemon's job --------------------------------------------------------


def import_project(job):
    folder = Path(job.order.options["directory"])
    # Again: the daemon trusts no one's check but its own. Disks are hashed as they are copied.
    archive = verify(folder, job.conf, hash_disks=False)
    hosts = job.hosts()
    images = imported_images(job, archive, hosts)
    for host in hosts:
        host.template = images[host.name].name
    plan = job.plan(images={i.name: i for i in images.values()})
    copies = [
        (
            "import disk",
            host.name,
            partial(copy_disk, archive.disks[host.name], Path(images[host.name].path), job.conf),
            partial(remove_copy, Path(images[host.name].path)),
        )
        for host in hosts
    ]
    build_plan(job, plan, before_hosts=copies)


def imported_images(job, archive, hosts):
    images = {}
    for host in hosts:
        check_name("host", host.name, f"project {job.spec.name}")  # the project's own spec, checked too
        disk = archive.disks.get(host.name)
        if disk is None:
            raise ArchiveError(f"{archive.folder}: no disk for host {host.name}")
        images[host.name] = Image(
            f"{host.name} (imported)",
            str(job.folder() / f"{host.name}.base.qcow2"),
            "qcow2",
            disk.boot,
            disk.virtual_size,
        )
    return images


def copy_disk(disk, target, conf):
    """The disk copied into the project's folder, hashed as it is read and checked again as a copy:
    the export folder is not ours, and its file may change after it was checked."""
    if target.exists() and file_sha256(target) == disk.digest:
        return False
    partial_file = target.with_name(f".{target.name}.partial")
    try:
        if copy_hashing(disk.path, partial_file) != disk.digest:
            raise ArchiveError(f"{disk.path}: does not match its SHA-256 sum")
        if checked_disk(partial_file, conf) != disk.virtual_size:
            raise ArchiveError(f"{disk.path}: changed while it was imported")
        partial_file.replace(target)
    finally:
        partial_file.unlink(missing_ok=True)
    return True


def copy_hashing(source, target):
    """Copies without following a link at the source; the SHA-256 of what was copied."""
    digest = hashlib.sha256()
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    with open(fd, "rb") as reader, open(target, "wb") as writer:
        while chunk := reader.read(1 << 20):
            digest.update(chunk)
            writer.write(chunk)
    return digest.hexdigest()


def remove_copy(target):
    target.unlink(missing_ok=True)
