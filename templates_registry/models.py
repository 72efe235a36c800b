"""VM template images: the disks that hosts' overlays are cloned from.

A host's `template NAME` names a row here. The row records what the file is,
read from its content (`qemu-img info`), and its SHA-256, so a daemon can tell
that the file it clones is the one that was registered.
"""

import hashlib
import json
import os
import subprocess
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone

from .choices import BootMode, ImageFormat


class TemplateError(Exception):
    """A file that cannot be registered, said in one line."""


def templates_dir():
    """Where uploaded templates and the tiny template are kept."""
    return Path(settings.VAR_DIR) / "templates"


def inspect_image(path):
    """(format, virtual size in bytes, sha256) of an image file, from its content."""
    path = Path(path)
    if path.is_dir():
        raise TemplateError(f"{path}: is a folder, not an image file")
    if not path.is_file():
        raise TemplateError(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise TemplateError(f"{path}: not readable")
    # -U: a template in use by a running guest is locked; reading its header is safe.
    result = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", str(path)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise TemplateError(f"{path}: qemu-img cannot read it: {result.stderr.strip()}")
    info = json.loads(result.stdout)
    if info["format"] not in ImageFormat.values:
        raise TemplateError(
            f"{path}: unknown format {info['format']!r} (a template is {' or '.join(ImageFormat.values)})"
        )
    return info["format"], info["virtual-size"], file_sha256(path)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Template(models.Model):
    name = models.CharField(max_length=200, unique=True, help_text="the name a host's `template` setting uses")
    image = models.CharField(max_length=1000, help_text="absolute path of the image file")
    format = models.CharField(max_length=10, choices=ImageFormat.choices)
    boot = models.CharField(max_length=10, choices=BootMode.choices, default=BootMode.PV)
    virtual_size = models.BigIntegerField(help_text="bytes")
    sha256 = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    registered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @classmethod
    def register(cls, path, name=None, boot=BootMode.PV, description=""):
        """Create or update the template `name` (the file's name by default) from the file."""
        if boot not in BootMode.values:
            raise TemplateError(f"unknown boot mode {boot!r} (pv or hvm)")
        name = name or Path(path).name
        # The file itself, not a link to it: overlays cloned from this template
        # keep this path as their backing file, and a link may later point elsewhere.
        path = Path(path).resolve()
        fmt, virtual_size, sha256 = inspect_image(path)
        fields = {"image": str(path), "format": fmt, "boot": boot, "virtual_size": virtual_size,
                  "sha256": sha256, "description": description}
        template = cls.objects.filter(name=name).first()
        if template and all(getattr(template, k) == v for k, v in fields.items()):
            return template  # registering the same file again changes nothing, not even the time
        template, _ = cls.objects.update_or_create(name=name, defaults={**fields, "registered_at": timezone.now()})
        return template
