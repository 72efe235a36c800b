"""The admin's upload form stores the file under the templates folder and registers it."""

import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from templates_registry.models import Template

pytestmark = pytest.mark.django_db


@pytest.fixture
def templates_folder(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR / "templates"


def qcow2_bytes(tmp_path):
    path = tmp_path / "made.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], check=True)
    return path.read_bytes()


def test_upload_is_stored_and_registered(admin_client, templates_folder, tmp_path):
    upload = SimpleUploadedFile("debian.img", qcow2_bytes(tmp_path))
    response = admin_client.post(
        "/admin/templates_registry/template/add/",
        {"upload": upload, "name": "", "boot": "hvm", "description": "uploaded"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    template = Template.objects.get(name="debian.img")
    assert (template.format, template.boot, template.virtual_size) == ("qcow2", "hvm", 16 * 1024 * 1024)
    assert template.image == str(templates_folder / "debian.img")
    assert (templates_folder / "debian.img").read_bytes()[:4] == b"QFI\xfb"
    assert [p.name for p in templates_folder.iterdir()] == ["debian.img"]


def test_upload_of_an_unknown_format_is_a_form_error(admin_client, templates_folder, tmp_path):
    vmdk = tmp_path / "x.vmdk"
    subprocess.run(["qemu-img", "create", "-q", "-f", "vmdk", str(vmdk), "1M"], check=True)
    response = admin_client.post(
        "/admin/templates_registry/template/add/",
        {"upload": SimpleUploadedFile("x.qcow2", vmdk.read_bytes()), "boot": "pv"},
    )
    assert response.status_code == 200
    assert "not an image: no qcow2 header" in response.content.decode()
    assert not Template.objects.exists()
    assert not templates_folder.exists()


def test_list_shows_name_format_boot_and_size(admin_client, tmp_path):
    image = tmp_path / "tiny"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(image), "16M"], check=True)
    Template.register(image)
    page = admin_client.get("/admin/templates_registry/template/").content.decode()
    assert "tiny" in page and "raw" in page and "16.0\xa0MB" in page
