"""A template is really an image: a qcow2 that stands alone, or raw that looks like a disk, within mln.conf's
bounds; checked the same way by `mln rt`, Template.register and the admin's upload."""

import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.cli import main
from templates_registry.models import Template, TemplateError

pytestmark = pytest.mark.django_db

ADD = "/admin/templates_registry/template/add/"


@pytest.fixture
def conf(tmp_path, monkeypatch):
    """An mln.conf with small bounds: a template file of at most 8 MiB, a disk of at most 64 MiB."""
    path = tmp_path / "mln.conf"
    path.write_text("max_template 8M\nmax_disk 64M\n")
    monkeypatch.setenv("MLN_CONF", str(path))
    return path


@pytest.fixture
def templates_folder(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR / "templates"


def create(path, fmt, size, *options):
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, *options, str(path), size], check=True)
    return path


def text_file(tmp_path):
    path = tmp_path / "notes.img"
    path.write_text("hello\n")  # six bytes
    return path


def backed_qcow2(tmp_path):
    return create(tmp_path / "backed.qcow2", "qcow2", "4M", "-b", "/etc/hostname", "-F", "raw")


def rt(capsys, *argv):
    status = main(["rt", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_a_six_byte_text_file_is_not_a_template(conf, tmp_path, capsys):
    path = text_file(tmp_path)
    with pytest.raises(TemplateError, match="not an image: .* 6 bytes is not a blank disk"):
        Template.register(path)
    status, _, err = rt(capsys, "-t", str(path))
    assert status == 1 and err.startswith(f"mln: error: {path}: not an image") and "Traceback" not in err
    assert not Template.objects.exists()


def test_a_qcow2_with_a_backing_file_is_refused_by_mln_rt(conf, tmp_path, capsys):
    status, _, err = rt(capsys, "-t", str(backed_qcow2(tmp_path)), "--name", "backed")
    assert status == 1
    assert "a qcow2 with a backing file (/etc/hostname) is refused" in err
    assert not Template.objects.exists()


def test_a_qcow2_with_an_external_data_file_is_refused(conf, tmp_path):
    image = create(tmp_path / "data.qcow2", "qcow2", "1M", "-o", f"data_file={tmp_path / 'elsewhere'}")
    with pytest.raises(TemplateError, match="external data file"):
        Template.register(image)


def test_a_small_filesystem_image_is_a_template(conf, tmp_path):
    image = tmp_path / "small.ext2"
    subprocess.run(["mkfs.ext2", "-q", str(image), "256"], check=True)  # 256 KiB, below a blank disk's minimum
    template = Template.register(image)
    assert (template.format, template.virtual_size) == ("raw", 256 * 1024)


def test_a_raw_file_that_is_no_whole_number_of_sectors_is_refused(conf, tmp_path):
    image = tmp_path / "odd.img"
    image.write_bytes(b"\0" * (2 * 1024 * 1024 + 1))
    with pytest.raises(TemplateError, match="is not a blank disk"):
        Template.register(image)


def test_a_file_above_max_template_is_refused(conf, tmp_path, capsys):
    image = create(tmp_path / "big.img", "raw", "16M")
    status, _, err = rt(capsys, "-t", str(image))
    assert status == 1
    assert err == f"mln: error: {image}: 16777216 bytes is above max_template (8388608 bytes) of mln.conf\n"


def test_a_qcow2_whose_disk_is_above_max_disk_is_refused(conf, tmp_path):
    image = create(tmp_path / "huge.qcow2", "qcow2", "1G")
    with pytest.raises(TemplateError, match="a disk of 1073741824 bytes is above max_disk"):
        Template.register(image)


def test_a_header_that_says_qcow2_is_read_as_qcow2_only(conf, tmp_path):
    image = tmp_path / "fake.qcow2"
    image.write_bytes(b"QFI\xfb" + b"\0" * (2 * 1024 * 1024))
    with pytest.raises(TemplateError, match="cannot read it as qcow2"):
        Template.register(image)


def test_the_admin_refuses_a_text_file_and_stores_nothing(admin_client, conf, templates_folder):
    response = admin_client.post(ADD, {"upload": SimpleUploadedFile("tiny.img", b"hello\n"), "boot": "pv"})
    assert response.status_code == 200
    assert "not an image: no qcow2 header" in response.content.decode()
    assert not Template.objects.exists()
    assert not templates_folder.exists()


def test_the_admin_refuses_a_qcow2_with_a_backing_file(admin_client, conf, templates_folder, tmp_path):
    upload = SimpleUploadedFile("backed.qcow2", backed_qcow2(tmp_path).read_bytes())
    response = admin_client.post(ADD, {"upload": upload, "boot": "hvm"})
    assert response.status_code == 200
    assert "a qcow2 with a backing file (/etc/hostname) is refused" in response.content.decode()
    assert not Template.objects.exists()
    assert not templates_folder.exists()


def test_the_admin_refuses_an_upload_above_max_template(admin_client, conf, templates_folder, tmp_path):
    upload = SimpleUploadedFile("big.img", create(tmp_path / "big.img", "raw", "9M").read_bytes())
    response = admin_client.post(ADD, {"upload": upload, "boot": "pv"})
    assert response.status_code == 200
    assert "9437184 bytes is above max_template (8388608 bytes) of mln.conf" in response.content.decode()
    assert not templates_folder.exists()


def test_the_admin_reports_a_broken_mln_conf_on_the_form(admin_client, conf, templates_folder):
    conf.write_text("max_template lots\n")
    response = admin_client.post(ADD, {"upload": SimpleUploadedFile("x.img", b"\0" * 4096), "boot": "pv"})
    assert response.status_code == 200
    assert "mln.conf cannot be read" in response.content.decode()
