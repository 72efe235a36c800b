"""The portal's upgrade of a course whose master or table changed (the cluster issue's `mln upgrade`).

The plans (daemon/cluster/upgrade_plan.py) compare each built project's spec with what
the new files make of it, so they are made before Course.apply, which
replaces the specs (a host that stays keeps its Host row, id and reported
state: Course.apply updates rows in place). Then each changed project keeps
the placement its plan gave it (the new spec, placed), and each project's
plan is queued after the commit as a chain of Builds (daemon/cluster/chains.py):
exports, one `upgrade` per service host, imports or live migrations, which
the daemons run one after another while the page returns at once and shows
the Builds.
"""

from django.db import transaction

from daemon import conf as mlnconf
from daemon.cluster import dispatch, heartbeat
from daemon.cluster import upgrade_plan as upgrading
from daemon.cluster.upgrade_plan import UpgradeError
from projects.choices import ProjectState

NOT_BUILT = (ProjectState.NEW, ProjectState.REMOVED)


class UpgradeRefused(Exception):
    """The upgrade cannot be done from the page; the message says why."""


def plans(course, inputs, conf=None):
    """{project name: UpgradePlan} of the course's built projects that `inputs` would change."""
    if not course.groups.exclude(project__state__in=NOT_BUILT).exists():
        return {}  # nothing built: applying is all there is to do

    try:
        found = course.upgrade_plans(inputs, conf or mlnconf.load())
    except UpgradeError as exc:
        raise UpgradeRefused(str(exc)) from exc
    built = dict(course.groups.values_list("project__name", "project__state"))
    return {name: plan for name, plan in found.items() if plan and built.get(name) not in NOT_BUILT}


def upgrade(course, inputs, requested_by=None, conf=None):
    """Applies `inputs` to the course and queues the upgrade chain of every built project it changes."""
    conf = conf or mlnconf.load()
    found = plans(course, inputs, conf)
    refuse_moves_to_dead_daemons(found)
    with transaction.atomic():
        course.apply(inputs)
        builds = []
        for group in course.groups_with_projects().filter(project__name__in=list(found)):
            project, plan = group.project, found[group.project.name]
            # The course's new version is stored now, with its Host rows; the chain's own switch of
            # the spec then finds it done. An export reads its hosts by name, whichever spec it reads.
            project.spec = plan.new  # placed: each host stays where it is, or goes where it moves
            project.save(update_fields=["spec", "updated_at"])
            try:
                builds += upgrading.queue(project, plan, conf, requested_by)
            except upgrading.UpgradeError as exc:  # a live move's target lost its migration_uri
                raise UpgradeRefused(str(exc)) from exc
    return builds


def refuse_moves_to_dead_daemons(found):
    """A move starts by taking its host off the source: never towards a daemon that is not there to take it."""
    redis = dispatch.connection()
    down = sorted(
        {
            s
            for plan in found.values()
            for m in plan.moves
            for s in (m.source, m.target)
            if not heartbeat.is_alive(redis, s)
        }
    )
    if down:
        raise UpgradeRefused(f"service host {', '.join(down)} has no live daemon; hosts cannot move now")
