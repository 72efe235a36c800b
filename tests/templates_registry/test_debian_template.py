"""The debian template as `make debian` builds it (templates_registry/debian/build.sh).

Checks the files only, quickly and without booting: a qcow2 image with no backing
file holding an ext4 filesystem labelled `debian`, and next to it the kernel and
initrd of the same build. Building takes minutes, so the test does not build:
it is skipped when the image is missing (in CI a skip fails, and `make test`
builds the template first).
"""

import json
import os
import struct
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Path(os.environ.get("MLN_VAR_DIR", ROOT / "var")) / "templates"


@pytest.fixture(scope="module")
def files():
    image = TEMPLATES / "debian.qcow2"
    if not image.exists():
        pytest.skip(f"{image} is not built (make debian)")
    return image, TEMPLATES / "debian.vmlinuz", TEMPLATES / "debian.initrd.img"


def test_image_is_qcow2_without_backing_file(files):
    image, _, _ = files
    out = subprocess.run(
        ["qemu-img", "info", "-f", "qcow2", "--output=json", str(image)], check=True, capture_output=True, text=True
    ).stdout
    info = json.loads(out)
    assert info["format"] == "qcow2"
    assert "backing-filename" not in info and "full-backing-filename" not in info
    assert info["virtual-size"] == 1024**3


def test_image_holds_an_ext4_filesystem_labelled_debian(files, tmp_path):
    image, _, _ = files
    head = tmp_path / "head.raw"
    subprocess.run(
        ["qemu-img", "dd", "-f", "qcow2", "-O", "raw", "bs=4096", "count=1", f"if={image}", f"of={head}"],
        check=True,
        capture_output=True,
    )
    superblock = head.read_bytes()[1024:2048]
    (magic,) = struct.unpack_from("<H", superblock, 0x38)
    (incompat,) = struct.unpack_from("<I", superblock, 0x60)
    assert magic == 0xEF53
    assert incompat & 0x40, "no extents: ext2 or ext3, not ext4"
    assert superblock[0x78:0x88].rstrip(b"\0") == b"debian"


def test_kernel_and_initrd_are_the_image_s_own(files):
    image, kernel, initrd = files
    build = image.resolve().name.removesuffix(".qcow2")  # debian-<inputs>
    assert kernel.resolve() == image.resolve().with_name(f"{build}.vmlinuz")
    assert initrd.resolve() == image.resolve().with_name(f"{build}.initrd.img")
    assert kernel.read_bytes()[0x202:0x206] == b"HdrS"  # a bzImage
    assert initrd.stat().st_size > 1024 * 1024
    for path in (image, kernel, initrd):  # libvirt's qemu user reads them
        assert path.resolve().stat().st_mode & 0o004
