"""The access helpers of projects.access: who sees which course, project, group and host."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from projects.access import (
    NoAccess,
    course_for_instructor,
    group_for_token,
    host_for_viewer,
    project_for_instructor,
    remember_group_token,
    session_tokens,
)
from projects.models import Group, Project


def test_the_owner_and_staff_see_a_course_and_nobody_else_does(world):
    assert course_for_instructor(world.ada, world.course.pk) == world.course
    assert course_for_instructor(world.root, world.course.pk) == world.course
    for user in (AnonymousUser(), world.grace, world.bob, world.eve):
        with pytest.raises(NoAccess):
            course_for_instructor(user, world.course.pk)


def test_a_course_that_does_not_exist_looks_like_one_that_is_not_yours(world):
    with pytest.raises(NoAccess) as missing:
        course_for_instructor(world.ada, 999_999)
    assert isinstance(missing.value, Http404)  # a view needs no handling of its own


def test_projects_follow_their_course_and_command_line_projects_are_for_staff_only(world):
    assert project_for_instructor(world.ada, world.project1.pk) == world.project1
    for user in (AnonymousUser(), world.grace, world.bob):
        with pytest.raises(NoAccess):
            project_for_instructor(user, world.project1.pk)
    loose = Project.objects.create(name="cli", source_name="cli.mln")
    assert project_for_instructor(world.root, loose.pk) == loose
    with pytest.raises(NoAccess):
        project_for_instructor(world.ada, loose.pk)


def test_a_host_is_seen_by_its_students_by_membership_or_by_access_link(world):
    assert host_for_viewer(world.bob, world.host1.pk) == world.host1
    assert host_for_viewer(AnonymousUser(), world.host1.pk, [world.group1.token]) == world.host1
    assert host_for_viewer(world.ada, world.host1.pk) == world.host1
    assert host_for_viewer(world.root, world.host1.pk) == world.host1


def test_a_host_is_hidden_from_other_groups_other_instructors_and_strangers(world):
    for user, tokens in [
        (AnonymousUser(), ()),
        (world.eve, ()),
        (AnonymousUser(), [world.group2.token]),
        (world.grace, ()),
        (AnonymousUser(), ["not-a-token"]),
    ]:
        with pytest.raises(NoAccess):
            host_for_viewer(user, world.host1.pk, tokens)


def test_an_inactive_account_sees_nothing(world):
    world.bob.is_active = False
    world.bob.save()
    with pytest.raises(NoAccess):
        host_for_viewer(world.bob, world.host1.pk)


def test_an_access_link_names_its_group_and_is_remembered_once_in_the_session(world):
    assert group_for_token(world.group1.token) == world.group1
    for token in ("", None, "nope"):
        with pytest.raises(NoAccess):
            group_for_token(token)
    session = {}
    remember_group_token(session, world.group1)
    remember_group_token(session, world.group1)
    remember_group_token(session, Group.objects.get(pk=world.group2.pk))
    assert session_tokens(session) == [world.group1.token, world.group2.token]
