"""Who may see what: one helper per object type, for views and consumers alike.

- Superusers, and users given the permission `projects.view_all_courses`,
  see (and act on) everything. Being staff is not enough: staff is for the
  admin pages, and an instructor who is staff still sees only their courses.
- An instructor sees the courses they own, and those courses' groups,
  projects and hosts.
- A student sees only their own group's hosts: through the group's access
  token (kept in their session once they open the access link, see
  projects.group_views) or through membership of Group.students.
- Anyone else sees nothing.

Each helper returns the object or raises NoAccess. NoAccess is an Http404 on
purpose: what a user may not see does not exist for them, so a view needs no
handling of its own and a stranger cannot probe which ids exist. The helpers
are synchronous (they query the database); consumers call them through
database_sync_to_async.
"""

from django.http import Http404

from projects.models import Course, Group, Host, Project

# The session key under which the access links a browser has opened are kept.
SESSION_TOKENS = "mln_group_tokens"


class NoAccess(Http404):
    """The object does not exist, or this user may not see it."""


def _is_active(user):
    return user is not None and user.is_authenticated and user.is_active


# Granted in the admin to whoever must see every course (a head of department, an operator).
VIEW_ALL_COURSES = "projects.view_all_courses"


def sees_all(user):
    """Superusers and holders of VIEW_ALL_COURSES (has_perm answers True for active superusers)."""
    return _is_active(user) and user.has_perm(VIEW_ALL_COURSES)


def _owns(user, course):
    return _is_active(user) and (course.owner_id == user.pk or sees_all(user))


def course_for_instructor(user, course_id=None, *, short_name=None):
    """The course, if `user` owns it (or sees all); by id (websockets) or by short name (page URLs)."""
    course = Course.objects.filter(**({"short_name": short_name} if short_name else {"pk": course_id})).first()
    if course is None or not _owns(user, course):
        raise NoAccess(f"no course {short_name or course_id}")
    return course


def project_for_instructor(user, project_id):
    """The project, if `user` owns its course (or sees all: only they see command-line projects)."""
    project = Project.objects.select_related("group__course").filter(pk=project_id).first()
    if project is None:
        raise NoAccess(f"no project {project_id}")
    if not sees_all(user) and not (project.group and _owns(user, project.group.course)):
        raise NoAccess(f"no project {project_id}")
    return project


def group_for_token(token):
    """The group whose access link carries `token`: the token is the credential."""
    group = Group.objects.select_related("course", "project").filter(token=token).first() if token else None
    if group is None:
        raise NoAccess("no such access link")
    return group


def group_for_viewer(user, group_id, tokens=()):
    """The group, if `user` may see its page: who sees all, the course's owner, or a student of it."""
    group = Group.objects.select_related("course", "project").filter(pk=group_id).first()
    if group is None or not _may_view(user, group, tokens):
        raise NoAccess(f"no group {group_id}")
    return group


def host_for_viewer(user, host_id, tokens=()):
    """The host, if `user` may use its console: who sees all, the course's owner, or a student of its group.

    `tokens`: the group access tokens this browser holds (session_tokens()).
    """
    host = Host.objects.select_related("project__group__course").filter(pk=host_id).first()
    if host is None or not _may_view(user, host.project.group, tokens):
        raise NoAccess(f"no host {host_id}")
    return host


def project_for_watcher(user, project_id, tokens=()):
    """The project, if `user` may watch it live: its instructor, or a viewer of its group (host_for_viewer)."""
    project = Project.objects.select_related("group__course").filter(pk=project_id).first()
    if project is None or not _may_view(user, project.group, tokens):
        raise NoAccess(f"no project {project_id}")
    return project


def _may_view(user, group, tokens):
    if sees_all(user):
        return True
    if group is None:  # a project made from the command line: for who sees all only
        return False
    if _owns(user, group.course) or group.token in set(tokens or ()):
        return True
    return _is_active(user) and group.students.filter(pk=user.pk).exists()


def remember_group_token(session, group):
    """Called by the access-link view: this browser may now see `group`'s hosts."""
    tokens = session_tokens(session)
    if group.token not in tokens:
        session[SESSION_TOKENS] = [*tokens, group.token]


def session_tokens(session):
    return list((session or {}).get(SESSION_TOKENS, ()))
