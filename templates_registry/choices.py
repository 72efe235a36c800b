"""Named kinds of template images."""

from django.db import models


class ImageFormat(models.TextChoices):
    # As qemu-img reads the file's content, never as its name claims.
    RAW = "raw", "raw"
    QCOW2 = "qcow2", "qcow2"


class BootMode(models.TextChoices):
    # pv: a filesystem image with no kernel of its own, booted with the host's
    # kernel and initrd (the article's Xen paravirtual templates).
    PV = "pv", "paravirtual (host kernel)"
    # hvm: a whole disk with its own boot loader.
    HVM = "hvm", "full disk (own boot loader)"
