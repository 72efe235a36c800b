"""The portal's upgrade of a course whose master or table changed (the cluster issue's `mln upgrade`).

The plans (daemon/upgrade.py) compare each built project's spec with what
the new files make of it, so they are made before Course.apply, which
replaces the specs and the Host rows. Then the course is applied, each
changed project keeps the placement its plan gave it (the new spec,
placed), its hosts keep what their daemon last reported, and one `upgrade`
Build per service host is queued after the commit: the daemons remove,
redefine and add hosts as the plan says.

Moving hosts between service hosts needs export, upgrade and import one
after another (daemon.upgrade.apply waits for each step), which a page
cannot wait for: a plan with moves is shown, and refused here.
"""

from django.db import transaction

from .choices import Action, ProjectState

NOT_BUILT = (ProjectState.NEW, ProjectState.REMOVED)
REPORTED = ["state", "domain_name", "vnc_port", "vnc_password", "addresses", "state_at", "service_host"]


class Refused(Exception):
    """The upgrade cannot be done from the page; the message says why."""


def plans(course, inputs, conf=None):
    """{project name: UpgradePlan} of the course's built projects that `inputs` would change."""
    if not course.groups.exclude(project__state__in=NOT_BUILT).exists():
        return {}  # nothing built: applying is all there is to do
    from daemon import conf as mlnconf
    from daemon.upgrade import UpgradeError

    try:
        found = course.upgrade_plans(inputs, conf or mlnconf.load())
    except UpgradeError as exc:
        raise Refused(str(exc)) from exc
    built = dict(course.groups.values_list("project__name", "project__state"))
    return {name: plan for name, plan in found.items() if plan and built.get(name) not in NOT_BUILT}


def upgrade(course, inputs, requested_by=None, conf=None):
    """Applies `inputs` to the course and queues the upgrade of every built project it changes."""
    from daemon import conf as mlnconf

    conf = conf or mlnconf.load()
    found = plans(course, inputs, conf)
    moving = [m for plan in found.values() for m in plan.moves]
    if moving:
        raise Refused("the new files move hosts between service hosts (" + "; ".join(map(str, moving)) +
                      "): moves are not done from the page")
    with transaction.atomic():
        reported = {(h.project.name, h.name): h for h in course.hosts().select_related("project")}
        course.apply(inputs)
        builds = []
        for group in course.groups_with_projects().filter(project__name__in=list(found)):
            project, plan = group.project, found[group.project.name]
            project.spec = plan.new  # placed: each host stays where it is
            project.save(update_fields=["spec", "updated_at"])
            keep_reported(project, reported)
            builds += [project.enqueue_build(Action.UPGRADE, service_host, options={
                "default_service_host": conf.service_host, "without": []}, requested_by=requested_by)
                for service_host in plan.service_hosts or [conf.service_host]]
    return builds


def keep_reported(project, reported):
    """The new Host rows keep what the daemon last said of the hosts that stay (their consoles work on)."""
    for host in project.hosts.all():
        old = reported.get((project.name, host.name))
        if old:
            for name in REPORTED:
                setattr(host, name, getattr(old, name))
            host.save(update_fields=REPORTED)
