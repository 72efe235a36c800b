"""A course archived then deleted leaves nothing in libvirt (its test driver): no domain, network, pool
or folder of its projects."""

from daemon.cluster import runner
from projects import retirement
from projects.choices import Action, BuildStatus, ProjectState
from projects.models import Course, Group, Project
from tests.factories import instructor, ldaptest, save_project

from .test_build import run


def course_of(project):
    course = Course.objects.create(name="Lab", short_name="lab", owner=instructor(), master_name="lab.mln")
    project.group = Group.objects.create(course=course, row=1)
    project.save()
    return course


def test_archive_then_delete_leaves_nothing_in_libvirt(libvirt_test, mln_conf, tiny):
    project = save_project(ldaptest(nat=True))
    course = course_of(project)
    assert run(project, Action.BUILD, mln_conf).status == BuildStatus.SUCCEEDED
    run(project, Action.START, mln_conf)
    assert libvirt_test.project_objects("ldaptest").domains
    try:
        retirement.delete(course)
    except retirement.StillHoldsGuests as exc:
        assert "ldaptest" in str(exc)
    else:
        raise AssertionError("a course whose guests run was deleted")
    removals = retirement.archive(course)
    assert [b.action for b in removals] == [Action.REMOVE]
    for build in removals:
        assert runner.run(build, mln_conf).status == BuildStatus.SUCCEEDED
    project.refresh_from_db()
    assert project.state == ProjectState.REMOVED
    assert not libvirt_test.project_objects("ldaptest")
    assert [d.name() for d in libvirt_test.conn.listAllDomains()] == ["test"]  # the driver's own
    assert not (mln_conf.projects / "ldaptest").exists()
    retirement.delete(course)
    assert not Course.objects.exists() and not Project.objects.exists()
