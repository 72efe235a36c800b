"""`mln export` and `mln import`: a project as a self-contained folder.

The folder holds the project file (`project.mln`), the resolved spec and
each host's boot mode (`export.json`), every host's disk as a standalone
qcow2 (`qemu-img convert`, compressed with `-z`), and `SHA256SUMS` over all
of them. An import checks every sum, and that no name leaves the folder,
before anything is made; each imported disk then backs a fresh overlay,
exactly like a template backs a built host's.
"""

import json
import shutil
import subprocess
from functools import partial
from pathlib import Path

from projects.lang.spec import ProjectSpec
from templates_registry.models import file_sha256

from .plan import Image

SUMS, MANIFEST, SOURCE = "SHA256SUMS", "export.json", "project.mln"


class ArchiveError(Exception):
    """The folder is not an export we can trust; nothing was made."""


# --- export -------------------------------------------------------------------------


def export_project(job):
    folder = Path(job.build.options["directory"])
    hosts = job.hosts()
    running = [h.name for h in hosts if job.hv.domain_state(job.domain(h)).state == "running"]
    if running:
        from .jobs import JobError

        raise JobError(f"stop {', '.join(running)} first: a running guest's disk is not consistent")
    job.total = len(hosts) + 2
    folder.mkdir(parents=True, exist_ok=True)
    job.step("project file", "", partial(write_manifest, job, folder, hosts))
    for host in hosts:
        job.step("disk", host.name, partial(export_disk, job, host, folder))
    job.step("sums", "", partial(write_sums, folder, [SOURCE, MANIFEST] + [f"{h.name}.qcow2" for h in hosts]))


def write_manifest(job, folder, hosts):
    (folder / SOURCE).write_text(job.project.source)
    boots = {h.name: "pv" if job.hv.boots_kernel(job.domain(h)) else "hvm" for h in hosts}
    manifest = {"project": job.spec.name, "spec": job.spec.to_dict(),
                "disks": {name: {"file": f"{name}.qcow2", "boot": boot} for name, boot in boots.items()}}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return True


def export_disk(job, host, folder, compress=None):
    """A standalone qcow2 of the overlay and everything under it."""
    compress = job.build.options.get("compress") if compress is None else compress
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


# --- import -------------------------------------------------------------------------


def inside(folder, name):
    """The file `name` of the folder; refuses names that lead out of it."""
    path = (folder / name).resolve()
    if Path(name).is_absolute() or not path.is_relative_to(folder.resolve()) or path == folder.resolve():
        raise ArchiveError(f"{folder}: {name!r} leaves the folder")
    return path


def verify(folder):
    """The manifest of a folder whose every file matches SHA256SUMS."""
    folder = Path(folder)
    try:
        lines = (folder / SUMS).read_text().splitlines()
    except OSError as exc:
        raise ArchiveError(f"{folder}: no {SUMS}: {exc.strerror}") from exc
    listed = {}
    for line in filter(None, lines):
        digest, _, name = line.partition("  ")
        listed[name] = (inside(folder, name), digest)
    manifest = read_manifest(folder, listed)
    for name, (path, digest) in listed.items():
        if not path.is_file() or file_sha256(path) != digest:
            raise ArchiveError(f"{folder}: {name} does not match its SHA-256 sum")
    return manifest


def read_manifest(folder, listed):
    needed = {SOURCE, MANIFEST}
    if not needed <= listed.keys():
        raise ArchiveError(f"{folder}: {SUMS} does not list {', '.join(sorted(needed - listed.keys()))}")
    try:
        manifest = json.loads(listed[MANIFEST][0].read_text())
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"{folder}: {MANIFEST} cannot be read: {exc}") from exc
    for host, disk in manifest.get("disks", {}).items():
        if disk["file"] not in listed:
            raise ArchiveError(f"{folder}: the disk of {host} ({disk['file']}) has no sum")
    return manifest


def project_from_folder(name, folder):
    """The Project row the import builds, named `name` (a new name imports a copy)."""
    from projects.models import Project

    folder = Path(folder)
    manifest = verify(folder)
    spec = ProjectSpec.from_dict(manifest["spec"])
    spec.name = name
    project = Project.objects.filter(name=name).first() or Project(name=name)
    if project.group_id:
        raise ArchiveError(f"project {name} belongs to a course")
    project.source_name, project.source = f"{name}.mln", (folder / SOURCE).read_text()
    project.spec = spec.to_dict()
    project.save()
    return project


def import_project(job):
    from .jobs import build_plan

    folder = Path(job.build.options["directory"])
    manifest = verify(folder)  # again: the daemon trusts no one's check but its own
    images = imported_images(job, manifest)
    for host in job.hosts():
        host.template = images[host.name].name
    plan = job.plan(images={i.name: i for i in images.values()})
    copies = [("import disk", host, partial(copy_disk, inside(folder, manifest["disks"][host]["file"]),
                                           Path(image.path))) for host, image in images.items()]
    build_plan(job, plan, before_hosts=copies)


def imported_images(job, manifest):
    images = {}
    for host in job.hosts():
        disk = manifest["disks"][host.name]
        source = inside(Path(job.build.options["directory"]), disk["file"])
        images[host.name] = Image(f"{host.name} (imported)", str(job.folder() / f"{host.name}.base.qcow2"),
                                  "qcow2", disk["boot"], virtual_size(source))
    return images


def virtual_size(path):
    result = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        raise ArchiveError(f"{path}: qemu-img cannot read it: {result.stderr.strip()}")
    return json.loads(result.stdout)["virtual-size"]


def copy_disk(source, target):
    if target.exists() and file_sha256(target) == file_sha256(source):
        return False
    shutil.copyfile(source, target)
    return True
