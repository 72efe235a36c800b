"""Retiring a course: archive it (its guests removed, the course and its files kept) or delete it
(its guests removed first, then its rows).

A Project row is the only record of which libvirt objects are a group's: a row deleted while libvirt
holds its guests would leave them running with nothing left to find them by. So no course, group or
project row is deleted while one of its projects may hold guests (built, running, stopped, a host
reported there, or a job still queued or running); their removal is queued first.
"""

from django.db.models import Q

from daemon.cluster.builds import Build
from projects import actions
from projects.choices import Action, BuildStatus, HostState, ProjectState
from projects.models import Project

# A project in one of these states may have guests, networks or disks in libvirt.
HOLDING_STATES = (ProjectState.BUILDING, ProjectState.BUILT, ProjectState.RUNNING, ProjectState.STOPPED)
UNFINISHED = (BuildStatus.QUEUED, BuildStatus.RUNNING)
# A host reported in any of these states is a guest libvirt holds.
REPORTED = [s for s in HostState.values if s != HostState.ABSENT]


class StillHoldsGuests(Exception):
    """A row cannot go yet: libvirt may hold its guests. The message names the projects."""


def holding_guests(projects):
    """The projects of the queryset `projects` that may hold guests now or once a pending job has run."""
    busy = Build.objects.filter(status__in=UNFINISHED).values("project_id")
    return projects.filter(Q(state__in=HOLDING_STATES) | Q(hosts__state__in=REPORTED) | Q(pk__in=busy)).distinct()


def holders_of(course):
    return holding_guests(Project.objects.filter(group__course=course))


def refusal(projects):
    """Why rows of `projects` (a queryset) cannot be deleted now, or None."""
    names = sorted(holding_guests(projects).values_list("name", flat=True))
    if not names:
        return None
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return f"libvirt may still hold the guests of {shown}: remove them first (or archive the course)"


def archive(course, requested_by=None):
    """Queues the removal of every guest of the course; keeps the course, its files and its groups."""
    return actions.submit(holders_of(course).filter(~Q(pk__in=busy_removals())), Action.REMOVE, requested_by)


def busy_removals():
    return Build.objects.filter(status__in=UNFINISHED, action=Action.REMOVE).values("project_id")


def delete(course):
    """Deletes the course and its groups and projects, refused while any of them may hold guests."""
    problem = refusal(Project.objects.filter(group__course=course))
    if problem:
        raise StillHoldsGuests(problem)
    course.delete()


def template_users(name, default_template=None):
    """The projects whose guests may be built on the template `name` (a host naming none is built on
    mln.conf's `default_template`): it cannot be deleted while they are."""

    def uses(project):
        named = {h.template for h in project.hosts.all()}
        named |= {(h or {}).get("template") or "" for h in (project.spec.get("hosts") or {}).values()}
        return name in named or (name == default_template and "" in named)

    return [p for p in holding_guests(Project.objects.all()).prefetch_related("hosts") if uses(p)]
