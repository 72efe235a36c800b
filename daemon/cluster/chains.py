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
`builds.fail_rest_of_chain`: the step that fails (in its job, or failed while queued for a
dead daemon or a refused signature) fails every Build after it, saying
"not run: <step> failed: <reason>", and cancels their deferred jobs. Nothing
waits forever, the pages show why, and a job delivered anyway finds its
Build failed and does nothing (signing.claim).
"""

from dataclasses import dataclass, field

from django.db import transaction

from daemon.cluster import builds, signing
from daemon.cluster.builds import Build
from daemon.conf import MlnConf
from projects.choices import BuildStatus


@dataclass
class Step:
    what: str  # what the pages and the error say: "export web from alpha"
    action: str
    service_host: str
    host_name: str = ""
    options: dict = field(default_factory=dict)


def create(project, steps: list[Step], conf: MlnConf, requested_by=None) -> list[Build]:
    """One queued Build per step, each naming the Build it runs after; no job yet."""
    made, after = [], None
    with transaction.atomic():
        for step in steps:
            after = builds.submit(
                project,
                step.action,
                step.service_host,
                default_service_host=conf.service_host,
                host_name=step.host_name,
                options=step.options,
                requested_by=requested_by,
                step=step.what,
                after=after,
            )
            made.append(after)
    return made


def enqueue(chain: list[Build], conf: MlnConf) -> None:
    """Each Build's signed job, deferred until the job of the Build before it has run."""
    previous = None
    for build in chain:
        build.refresh_from_db(fields=["status"])
        if build.status == BuildStatus.QUEUED:  # not failed meanwhile with the step before it
            build.enqueue(conf, depends_on=previous)
        previous = signing.job_id(build.pk)
