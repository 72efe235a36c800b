"""Running a Build: the one wrapper around every run, on a daemon or in the command line's process.

`run_signed` is what a daemon's worker runs for every job (daemon/cluster/worker.py):
verify the envelope (daemon/cluster/signing.py), claim the Build, run it. `run` is
the run itself, NetBox's `JobRunner.handle` in shape: start, the agent's step
(daemon/agent/actions.py) on an open hypervisor, then record what libvirt says
of the project's hosts and switches, and succeed or fail with one line. It
never raises for a failed step: the Build says what happened.
"""

import logging

from rq import get_current_job

from daemon.agent import actions, reports
from daemon.agent.hypervisor import Hypervisor
from daemon.agent.plan import Image
from daemon.agent.steps import EXPECTED, Job, JobOrder, StepFailed
from daemon.cluster import builds, signing
from daemon.cluster.builds import Build
from daemon.conf import MlnConf
from projects.choices import Action, BuildStatus, ProjectState
from projects.lang.spec import ProjectSpec
from templates_registry.models import Template

log = logging.getLogger(__name__)


def run_signed(envelope: dict, conf: MlnConf) -> str | None:
    """What a daemon runs for a job: verify, claim the Build, run it."""
    job = get_current_job()
    try:
        build_id = signing.verify(envelope, conf, job.origin if job else "")
    except signing.JobRefused as exc:
        refuse(envelope, str(exc), conf)
        raise
    if not builds.claim(build_id):
        # Already run, or failed by the wait for a dead daemon: a replayed job does nothing.
        log.warning("build %s is not queued any more: job %s ignored", build_id, job and job.id)
        return None
    build = Build.objects.select_related("project").get(pk=build_id)
    return run(build, conf).status


def refuse(envelope, reason, conf):
    """Logs the refusal and fails the Build it names, if that Build is still waiting."""
    build_id = envelope.get("build") if isinstance(envelope, dict) else envelope
    log.warning("service host %s refused a job (build %r): %s", conf.service_host, build_id, reason)
    if isinstance(build_id, int) and not isinstance(build_id, bool):
        builds.fail_queued(build_id, f"refused by the daemon of {conf.service_host}: {reason}")


def run(build: Build, conf: MlnConf, progress=None) -> Build:
    """Runs one claimed (or, in this process, just made) Build; returns it, succeeded or failed."""
    build = Build.objects.select_related("project").get(pk=build.pk)  # as it is now, not as the caller saw it
    if build.status == BuildStatus.RUNNING and build.started_at:
        build.supersede_interrupted()  # claimed by run_signed
    else:
        build.start()
    switch_spec(build)
    project = build.project
    events = build.events_log(progress)
    try:
        with Hypervisor(conf.libvirt_uri) as hypervisor:
            job = Job(
                order_of(build), ProjectSpec.from_dict(project.spec), conf, hypervisor, events, registered_images()
            )
            try:
                actions.run(job)
            finally:
                project.record_hosts(
                    reports.host_reports(job.spec, hypervisor, build.service_host),
                    reports.switch_reports(job.spec, build.service_host),
                )
    except (StepFailed, *EXPECTED) as exc:
        fail(build, str(exc), progress)
    except Exception as exc:  # a bug: the user gets one line, the log gets the traceback
        log.exception("build %s failed", build.pk)
        fail(build, f"internal error: {exc!r}", progress)
    else:
        if job.project_state:
            project.set_state(job.project_state)
        build.succeed()
    return build


def order_of(build) -> JobOrder:
    return JobOrder(
        action=build.action,
        service_host=build.service_host,
        default_service_host=build.home_of_unplaced,
        host_name=build.host_name,
        options=build.options,
        source=build.project.source,
        project_state=build.project.state,
    )


def registered_images():
    return {t.name: Image(t.name, t.image, t.format, t.boot, t.virtual_size) for t in Template.objects.all()}


def switch_spec(build):
    """An upgrade chain carries the project's new spec in one Build, its first `upgrade`
    (daemon/cluster/upgrade_plan.py): stored as that job starts, after the exports. The portal
    has stored it already, with the course."""
    new = build.options.get("spec")
    if new is not None and build.project.spec != new:
        build.project.spec = new
        build.project.save(update_fields=["spec", "updated_at"])


def fail(build, reason, progress=None):
    build.fail(reason, progress)
    if build.action in (Action.BUILD, Action.REBUILD):
        build.project.set_state(ProjectState.FAILED)
