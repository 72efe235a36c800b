"""Chains of Builds: steps on several daemons, one after another, with nobody waiting.

An upgrade that moves hosts is export on the source, upgrade on every service
host, import on the target, in that order. The command line could submit a
step and wait for it before the next; a web page cannot wait minutes. So the
whole chain is queued at once: each Build's signed job depends on the job of
the Build before it (RQ's `depends_on`, across queues: RQ enqueues a job on
its own queue once the job it depends on has finished), and the daemons run
the steps in order by themselves.

The Builds are the truth, RQ only delivers. A job "finishes" for RQ even
when its Build failed, so order is all RQ gives; what stops the rest is
`fail_later`: the step that fails (in its job, or failed while queued for a
dead daemon or a refused signature) fails every Build after it, saying
"not run: <step> failed: <reason>", and cancels their deferred jobs. Nothing
waits forever, the pages show why, and a job delivered anyway finds its
Build failed and does nothing (signing.claim).
"""

from dataclasses import dataclass, field

from django.db import transaction

from daemon.cluster import signing


@dataclass
class Step:
    what: str             # what the pages and the error say: "export web from alpha"
    action: str
    service_host: str
    host_name: str = ""
    options: dict = field(default_factory=dict)


def create(project, steps, conf, requested_by=None):
    """One queued Build per step, each naming the Build it runs after; no job yet."""
    from projects.models import Build

    builds, after = [], None
    with transaction.atomic():
        for step in steps:
            options = {**step.options, "service_host": step.service_host,
                       "default_service_host": conf.service_host, "step": step.what, "after": after}
            build = Build.objects.create(project=project, action=step.action, host_name=step.host_name,
                                         options=options, requested_by=requested_by)
            builds.append(build)
            after = build.pk
    return builds


def enqueue(builds, conf):
    """Each Build's signed job, deferred until the job of the Build before it has run."""
    from projects.choices import BuildStatus

    previous = None
    for build in builds:
        build.refresh_from_db(fields=["status"])
        if build.status == BuildStatus.QUEUED:  # not failed meanwhile with the step before it
            signing.enqueue(build, conf, depends_on=previous)
        previous = signing.job_id(build.pk)


def fail_later(build, reason):
    """Fails the Builds queued after `build` in its chain and cancels their jobs; returns them."""
    from projects.models import Build

    step = build.options.get("step")
    if not step:
        return []  # not part of a chain
    failed, current = [], build
    while (current := Build.objects.filter(project_id=build.project_id, options__after=current.pk).first()):
        if signing.fail_queued(current.pk, f"not run: {step} failed: {reason}", cascade=False):
            cancel(signing.job_id(current.pk))
            failed.append(current)
    return failed


def cancel(job_id):
    """Takes a deferred (or queued) job out of RQ, so that its dependency finishing enqueues nothing."""
    import django_rq
    from rq.exceptions import InvalidJobOperation, NoSuchJobError
    from rq.job import Job
    from rq.serializers import JSONSerializer

    try:
        Job.fetch(job_id, connection=django_rq.get_connection("default"), serializer=JSONSerializer).cancel()
    except (NoSuchJobError, InvalidJobOperation):
        pass  # never enqueued (the command line's own host), or already gone
