"""Template.register and `mln rt` on real images made by qemu-img."""

import subprocess

import pytest

from projects.cli import main
from templates_registry.models import Template, TemplateError

pytestmark = pytest.mark.django_db


def qemu_img_create(path, fmt, size="4M"):
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(path), size], check=True)
    return path


def test_raw_image_is_registered_with_its_size_and_hash(tmp_path):
    image = qemu_img_create(tmp_path / "small.img", "raw")
    template = Template.register(image, description="four zero megabytes")
    assert template.name == "small.img"
    assert (template.format, template.boot, template.virtual_size) == ("raw", "pv", 4 * 1024 * 1024)
    assert template.sha256 == "bb9f8df61474d25e71fa00722318cd387396ca1736605e1248821cc0de3d3af8"
    assert template.image == str(image)


def test_format_is_read_from_content_when_the_file_name_lies(tmp_path):
    image = qemu_img_create(tmp_path / "disk.raw", "qcow2", "1G")
    template = Template.register(image, name="liar", boot="hvm")
    assert (template.format, template.boot, template.virtual_size) == ("qcow2", "hvm", 1024**3)


def test_registering_again_updates_the_same_row(tmp_path):
    first = Template.register(qemu_img_create(tmp_path / "a.img", "raw"), name="base")
    second = Template.register(qemu_img_create(tmp_path / "b.qcow2", "qcow2", "8M"), name="base")
    assert first.pk == second.pk
    assert Template.objects.get(name="base").format == "qcow2"
    assert Template.objects.count() == 1


def test_registering_the_same_file_again_changes_nothing(tmp_path):
    image = qemu_img_create(tmp_path / "a.img", "raw")
    first = Template.register(image)
    assert Template.register(image).registered_at == first.registered_at
    assert Template.register(image, description="now described").registered_at > first.registered_at


def test_a_link_is_registered_as_the_file_it_points_to(tmp_path):
    image = qemu_img_create(tmp_path / "tiny-1234.ext4", "raw")
    (tmp_path / "tiny.ext4").symlink_to(image.name)
    template = Template.register(tmp_path / "tiny.ext4")
    assert (template.name, template.image) == ("tiny.ext4", str(image))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(TemplateError, match="no such file"):
        Template.register(tmp_path / "nothing.img")


def test_a_folder_is_refused_as_an_image(tmp_path):
    with pytest.raises(TemplateError, match="is a folder, not an image file"):
        Template.register(tmp_path)


def test_unknown_format_is_refused(tmp_path):
    image = qemu_img_create(tmp_path / "disk.qcow2", "vmdk")
    with pytest.raises(TemplateError, match="not an image: no qcow2 header, no filesystem or partition table"):
        Template.register(image)
    assert not Template.objects.exists()


def test_mln_rt_registers_and_reports(tmp_path, capsys):
    image = qemu_img_create(tmp_path / "web.qcow2", "qcow2")
    assert main(["rt", "-t", str(image), "--name", "web", "--boot", "hvm"]) == 0
    assert capsys.readouterr().out.startswith("web: qcow2, hvm, 4194304 bytes")
    assert Template.objects.get(name="web").boot == "hvm"


def test_mln_register_template_reports_a_missing_file_in_one_line(tmp_path, capsys):
    assert main(["register_template", "-t", str(tmp_path / "gone.img")]) == 1
    assert capsys.readouterr().err == f"mln: error: {tmp_path / 'gone.img'}: no such file\n"
