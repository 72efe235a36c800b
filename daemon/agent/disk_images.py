"""What an image file is, read from its content with an explicit format, never probed.

A qcow2 header can name other files: a backing file or an external data
file, which QEMU would then open, as root, for every guest cloned from the
image. Letting qemu-img guess a format is how such a header gets read where
raw bytes were meant. So the format is decided here from the file's first
bytes (qcow2's magic, or else raw), qemu-img is always told that format, and
a qcow2 that leans on any other file is refused. A raw image must look like
one: a filesystem or partitioned disk (as blkid reads it), or at least a
plausible blank disk, so that a text file is never a template.

Used for templates registered in the admin or by `mln rt`, and for the disks
of an `mln import` (daemon/agent/archive.py).
"""

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

QCOW2_MAGIC = b"QFI\xfb"
SECTOR = 512
# A raw image with neither a filesystem nor a partition table is taken for a
# blank disk only from this size on (a real one is many MiB of whole sectors).
MIN_BLANK_RAW = 1024 * 1024
# Reading a header never takes long; a stuck qemu-img or blkid must not hold a request or a job.
TOOL_TIMEOUT = 60


class ImageError(Exception):
    """A file that is not a usable image, said in one line that names it."""


@dataclass(frozen=True)
class ImageLimits:
    """From mln.conf: `max_template` bounds the file, `max_disk` the disk a guest sees."""

    max_file: int
    max_virtual: int


@dataclass(frozen=True)
class ImageFacts:
    format: str  # raw or qcow2
    virtual_size: int  # bytes the guest sees
    filesystem: str  # what blkid found in a raw image ("ext4", "dos" for a partition table, "" for none)


def limits_from_conf(conf):
    return ImageLimits(max_file=conf.max_template, max_virtual=conf.max_disk)


def inspect(path, limits):
    """The facts of a template image, or ImageError saying why it is not one."""
    path = Path(path)
    size = regular_file_size(path)
    if size > limits.max_file:
        raise ImageError(f"{path}: {size} bytes is above max_template ({limits.max_file} bytes) of mln.conf")
    if read_magic(path) == QCOW2_MAGIC:
        facts = ImageFacts("qcow2", qcow2_info(path)["virtual-size"], "")
    else:
        facts = ImageFacts("raw", size, raw_content(path, size))
    check_virtual_size(path, facts.virtual_size, limits)
    return facts


def regular_file_size(path):
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image file")
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise ImageError(f"{path}: not readable")
    return path.stat().st_size


def read_magic(path):
    with open(path, "rb") as f:
        return f.read(len(QCOW2_MAGIC))


def qcow2_info(path):
    """qemu-img's facts of a qcow2 that stands alone; ImageError for anything else."""
    # -f qcow2: never probed. -U: a template in use by a running guest is locked; reading its header is safe.
    info = run_json(["qemu-img", "info", "-f", "qcow2", "-U", "--output=json", str(path)], path, "qemu-img")
    data = info.get("format-specific", {}).get("data", {})
    if info.get("backing-filename"):
        raise ImageError(
            f"{path}: a qcow2 with a backing file ({info['backing-filename']}) is refused: "
            "an image must stand alone (qemu-img convert -O qcow2 flattens it)"
        )
    if data.get("data-file"):
        raise ImageError(
            f"{path}: a qcow2 with an external data file ({data['data-file']}) is refused: an image must stand alone"
        )
    if info.get("encrypted"):
        raise ImageError(f"{path}: an encrypted qcow2 is refused: guests could not read it")
    if data.get("corrupt"):
        raise ImageError(f"{path}: qemu-img marks this qcow2 corrupt")
    return info


def raw_content(path, size):
    """What blkid finds in a raw image; a file with nothing in it must at least be sized like a disk."""
    found = blkid(path)
    if found:
        return found
    if size < MIN_BLANK_RAW or size % SECTOR:
        raise ImageError(
            f"{path}: not an image: no qcow2 header, no filesystem or partition table, and "
            f"{size} bytes is not a blank disk (whole {SECTOR}-byte sectors, at least "
            f"{MIN_BLANK_RAW // (1024 * 1024)} MiB)"
        )
    return ""


def blkid(path):
    """The filesystem (TYPE) or partition table (PTTYPE) blkid reads in the file, or ""."""
    # -p: low-level probing of the file itself, no cache; exit 2 means nothing was recognised.
    try:
        result = subprocess.run(
            ["blkid", "-p", "-o", "export", str(path)], capture_output=True, text=True, timeout=TOOL_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ImageError(f"{path}: blkid cannot read it: {exc}") from exc
    fields = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return fields.get("TYPE") or fields.get("PTTYPE") or ""


def check_virtual_size(path, virtual_size, limits):
    if virtual_size > limits.max_virtual:
        raise ImageError(
            f"{path}: a disk of {virtual_size} bytes is above max_disk ({limits.max_virtual} bytes) of mln.conf"
        )


def run_json(command, path, tool):
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ImageError(f"{path}: {tool} cannot read it: {exc}") from exc
    if result.returncode != 0:
        raise ImageError(f"{path}: {tool} cannot read it as qcow2: {result.stderr.strip()}")
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise ImageError(f"{path}: {tool} said something unreadable: {exc}") from exc


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
