"""VM template images: the disks that hosts' overlays are cloned from.

A host's `template NAME` names a row here. The row records what the file is,
read from its content with an explicit format (images.py: qcow2 standing
alone, or raw that looks like a disk), and its SHA-256, so a daemon can tell
that the file it clones is the one that was registered.
"""

from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from daemon import conf as mlnconf
from daemon.agent.disk_images import ImageError, ImageLimits, file_sha256, inspect, limits_from_conf

from .choices import BootMode, ImageFormat

__all__ = ["Template", "TemplateError", "inspect_image", "image_limits", "file_sha256", "templates_dir"]

# Callers name the error of a file that cannot be registered by its old name.
TemplateError = ImageError


def templates_dir():
    """Where uploaded templates and the tiny template are kept."""
    return Path(settings.VAR_DIR) / "templates"


def image_limits(conf=None):
    """The bounds of a template image, from mln.conf (`max_template`, `max_disk`)."""
    try:
        return limits_from_conf(conf or mlnconf.load())
    except mlnconf.ConfError as exc:
        raise TemplateError(f"mln.conf cannot be read: {exc}") from exc


def inspect_image(path, limits=None):
    """(format, virtual size in bytes, sha256) of an image file, from its content."""
    facts = inspect(path, limits or image_limits())
    return facts.format, facts.virtual_size, file_sha256(path)


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
    def register(cls, path, name=None, boot=BootMode.PV, description="", limits: ImageLimits | None = None):
        """Create or update the template `name` (the file's name by default) from the file.

        `limits`: mln.conf's bounds of an image (read from mln.conf when not given)."""
        if boot not in BootMode.values:
            raise TemplateError(f"unknown boot mode {boot!r} (pv or hvm)")
        name = name or Path(path).name
        # The file itself, not a link to it: overlays cloned from this template
        # keep this path as their backing file, and a link may later point elsewhere.
        path = Path(path).resolve()
        fmt, virtual_size, sha256 = inspect_image(path, limits)
        fields = {
            "image": str(path),
            "format": fmt,
            "boot": boot,
            "virtual_size": virtual_size,
            "sha256": sha256,
            "description": description,
        }
        template = cls.objects.filter(name=name).first()
        if template and all(getattr(template, k) == v for k, v in fields.items()):
            return template  # registering the same file again changes nothing, not even the time
        template, _ = cls.objects.update_or_create(name=name, defaults={**fields, "registered_at": timezone.now()})
        return template

    def delete(self, *args, **kwargs):
        """The row, then (once that commits) its image file if MLN stored it. Whether a built project
        still uses the template is for the caller to ask first (projects.retirement.template_users)."""
        image = self.stored_image()
        result = super().delete(*args, **kwargs)
        if image is not None:
            transaction.on_commit(lambda: remove_stored_image(image))
        return result

    def stored_image(self):
        """The image file when MLN stored it under the templates folder (an admin upload, a built
        template) and no other template names it; None for a file registered where it lay (`mln rt`)."""
        path = Path(self.image)
        folder = templates_dir().resolve()
        if not path.is_absolute() or path.is_symlink() or path.resolve().parent != folder:
            return None
        if Template.objects.filter(image=self.image).exclude(pk=self.pk).exists():
            return None
        return path


def remove_stored_image(path):
    # Checked again as it goes: the file may have been replaced or registered anew since.
    if path.is_file() and not path.is_symlink() and not Template.objects.filter(image=str(path)).exists():
        path.unlink()
