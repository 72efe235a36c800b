"""Archive and delete a course from its page, and no course, group or project row deleted in the admin
while libvirt may hold its guests.

World (conftest): Ada owns course `os` (groups 1 and 2, each a project with one host `server`, reported
running); Grace is another instructor.
"""

import uuid

import pytest
from django.urls import reverse

from daemon.cluster import signing
from projects.choices import Action, BuildStatus, HostState, ProjectState
from projects.models import Build, Course, Group, Project
from tests.factories import server_spec


@pytest.fixture
def site(world, tmp_path, monkeypatch):
    """World, with specs the actions can read, and a service host of this test's own (Redis is shared)."""
    service_host = f"retire-{uuid.uuid4().hex[:6]}"
    conf = tmp_path / "mln.conf"
    conf.write_text(f"service_host {service_host}\n")
    monkeypatch.setenv("MLN_CONF", str(conf))
    for project in (world.project1, world.project2):
        project.spec = server_spec(project.name).to_dict()
        project.state = ProjectState.RUNNING
        project.save()
    yield world
    signing.queue(service_host).delete(delete_jobs=True)


def gone(world):
    """The site's course with no guest left: what a finished removal reports."""
    Project.objects.filter(group__course=world.course).update(state=ProjectState.REMOVED)
    world.course.hosts().update(state=HostState.ABSENT)


def url(world):
    return reverse("course_delete", args=[world.course.short_name])


def test_the_course_page_links_to_archive_or_delete(client, site):
    client.force_login(site.ada)
    assert url(site) in client.get(site.course.get_absolute_url()).content.decode()


def test_the_confirmation_names_the_projects_that_hold_guests(client, site):
    client.force_login(site.ada)
    page = client.get(url(site)).content.decode()
    assert "os01</a> (running)" in page and "os02</a> (running)" in page
    assert "Remove guests, then delete" in page
    assert Course.objects.filter(pk=site.course.pk).exists()  # a GET changes nothing


def test_another_instructor_can_neither_see_nor_delete(client, site):
    client.force_login(site.grace)
    assert client.get(url(site)).status_code == 404
    assert client.post(url(site), {"what": "delete"}).status_code == 404
    assert Course.objects.filter(pk=site.course.pk).exists() and not Build.objects.exists()


def test_archive_queues_the_removal_of_every_guest_and_keeps_the_course(client, site):
    client.force_login(site.ada)
    response = client.post(url(site), {"what": "archive"}, follow=True)
    assert "Removal of every guest queued (2 jobs); the course is kept." in response.content.decode()
    assert sorted(Build.objects.values_list("project__name", "action", "status")) == [
        ("os01", Action.REMOVE, BuildStatus.QUEUED),
        ("os02", Action.REMOVE, BuildStatus.QUEUED),
    ]
    assert Course.objects.filter(pk=site.course.pk).exists()
    assert Group.objects.filter(course=site.course).count() == 2


def test_archiving_twice_queues_no_second_removal(client, site):
    client.force_login(site.ada)
    client.post(url(site), {"what": "archive"})
    client.post(url(site), {"what": "archive"})
    assert Build.objects.count() == 2


def test_delete_with_guests_queues_their_removal_first_and_keeps_every_row(client, site):
    client.force_login(site.ada)
    response = client.post(url(site), {"what": "delete"}, follow=True)
    assert "delete it again after the removal" in response.content.decode()
    assert Build.objects.filter(action=Action.REMOVE).count() == 2
    assert Project.objects.filter(group__course=site.course).count() == 2


def test_delete_once_the_guests_are_gone_deletes_course_groups_and_projects(client, site):
    client.force_login(site.ada)
    client.post(url(site), {"what": "archive"})
    Build.objects.update(status=BuildStatus.SUCCEEDED)
    gone(site)
    page = client.get(url(site)).content.decode()
    assert "No project of this course has guests" in page and "Delete the course" in page
    response = client.post(url(site), {"what": "delete"}, follow=True)
    assert "Course Operating systems and its groups were deleted." in response.content.decode()
    assert not Course.objects.filter(pk=site.course.pk).exists()
    assert not Project.objects.filter(name__in=["os01", "os02"]).exists()


def test_a_queued_job_holds_the_rows_even_of_a_project_never_built(client, site):
    gone(site)
    Build.objects.create(project=site.project1, action=Action.BUILD, service_host="localhost")
    client.force_login(site.ada)
    client.post(url(site), {"what": "delete"})
    assert Course.objects.filter(pk=site.course.pk).exists()  # the build could still make guests


@pytest.mark.parametrize(
    "model_url, obj",
    [("projects/course", "course"), ("projects/group", "group1"), ("projects/project", "project1")],
)
def test_the_admin_refuses_to_delete_a_row_whose_guests_libvirt_holds(client, site, model_url, obj):
    client.force_login(site.root)
    pk = getattr(site, obj).pk
    response = client.post(f"/admin/{model_url}/{pk}/delete/", {"post": "yes"})
    assert response.status_code == 200
    assert "project os01 (running) may still have guests in libvirt: remove them first" in response.content.decode()
    assert Project.objects.filter(pk=site.project1.pk).exists()


def test_the_admin_bulk_delete_refuses_too(client, site):
    client.force_login(site.root)
    response = client.post(
        "/admin/projects/project/",
        {"action": "delete_selected", "_selected_action": [site.project1.pk, site.project2.pk], "post": "yes"},
    )
    assert "may still have guests in libvirt" in response.content.decode()
    assert Project.objects.filter(group__course=site.course).count() == 2


def test_the_admin_deletes_a_course_whose_guests_are_gone(client, site):
    gone(site)
    client.force_login(site.root)
    response = client.post(f"/admin/projects/course/{site.course.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Course.objects.filter(pk=site.course.pk).exists()
