"""Deleting a template in the admin: its stored image goes with it, and never while a built project uses it."""

import subprocess

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.choices import ProjectState
from projects.models import Host
from templates_registry.models import Template
from tests.factories import ldaptest, save_project

pytestmark = pytest.mark.django_db(transaction=True)  # the file goes once the deletion commits


@pytest.fixture
def templates_folder(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR / "templates"


def upload(admin_client, tmp_path, name):
    path = tmp_path / "made.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], check=True)
    response = admin_client.post(
        "/admin/templates_registry/template/add/",
        {"upload": SimpleUploadedFile(name, path.read_bytes()), "name": "", "boot": "hvm"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return Template.objects.get(name=name)


def delete(admin_client, template):
    return admin_client.post(f"/admin/templates_registry/template/{template.pk}/delete/", {"post": "yes"})


def use(template_name, state=ProjectState.RUNNING):
    project = save_project(ldaptest(template=template_name))
    project.set_state(state)
    Host.objects.create(project=project, name="ldapserver", template=template_name)
    return project


def test_deleting_an_uploaded_template_removes_its_image(admin_client, templates_folder, tmp_path):
    template = upload(admin_client, tmp_path, "lab.qcow2")
    assert (templates_folder / "lab.qcow2").is_file()
    assert delete(admin_client, template).status_code == 302
    assert not Template.objects.exists()
    assert list(templates_folder.iterdir()) == []


def test_a_file_registered_where_it_lay_is_kept(admin_client, templates_folder, tmp_path):
    image = tmp_path / "mine.img"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(image), "16M"], check=True)
    template = Template.register(image, name="mine")
    assert delete(admin_client, template).status_code == 302
    assert not Template.objects.exists()
    assert image.is_file()  # not MLN's to delete


def test_an_image_another_template_names_is_kept(admin_client, templates_folder, tmp_path):
    template = upload(admin_client, tmp_path, "shared.qcow2")
    Template.objects.create(
        name="alias", image=template.image, format=template.format, virtual_size=1, sha256=template.sha256
    )
    delete(admin_client, template)
    assert (templates_folder / "shared.qcow2").is_file()


def test_a_template_a_running_project_uses_cannot_be_deleted(admin_client, templates_folder, tmp_path):
    template = upload(admin_client, tmp_path, "lab.qcow2")
    use("lab.qcow2")
    page = admin_client.get(f"/admin/templates_registry/template/{template.pk}/delete/").content.decode()
    assert "project ldaptest (running) uses template lab.qcow2: remove its guests first" in page
    response = delete(admin_client, template)
    assert response.status_code == 200 and "remove its guests first" in response.content.decode()
    assert Template.objects.filter(pk=template.pk).exists()
    assert (templates_folder / "lab.qcow2").is_file()


def test_the_bulk_delete_action_refuses_a_used_template_too(admin_client, templates_folder, tmp_path):
    used, unused = upload(admin_client, tmp_path, "used.qcow2"), upload(admin_client, tmp_path, "spare.qcow2")
    use("used.qcow2", ProjectState.STOPPED)
    response = admin_client.post(
        "/admin/templates_registry/template/",
        {"action": "delete_selected", "_selected_action": [used.pk, unused.pk], "post": "yes"},
    )
    assert "project ldaptest (stopped) uses template used.qcow2" in response.content.decode()
    assert Template.objects.count() == 2


def test_a_removed_project_no_longer_holds_its_template(admin_client, templates_folder, tmp_path):
    template = upload(admin_client, tmp_path, "lab.qcow2")
    project = use("lab.qcow2", ProjectState.REMOVED)
    project.hosts.update(state="absent")
    assert delete(admin_client, template).status_code == 302
    assert not (templates_folder / "lab.qcow2").exists()
