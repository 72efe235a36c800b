"""The job record: a Build, its events, and every step of its life, in one place.

A Build is one action on one project, on one service host. The row is the
truth and RQ only delivers it (NetBox keeps its `Job` the same way): `submit`
is the one way a Build is made, `enqueue_on_commit` pushes its signed job
once the row is committed, and from then on it moves only through this
module:

    queued --claim--> running --succeed--> succeeded
       |                  `----fail------> failed (and the rest of its chain)
       `--fail_queued--> failed (never started: a dead daemon, a refused job)

`start` is `claim` for a run the caller does in its own process (the command
line's own host). Events are numbered by one counter (`EventLog`), stored in
batches and sent, in one format (`event_message`), to the channel-layer
groups `project_group` and `course_group` that the live pages follow.

The models belong to the `projects` app (their tables and migrations have
always been there); they are defined here so that everything that runs a
Build depends on this layer and never on courses.
"""

import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from daemon.cluster import signing
from projects.choices import Action, BuildStatus, EventLevel

log = logging.getLogger(__name__)

ENDED = (BuildStatus.SUCCEEDED, BuildStatus.FAILED)
# Events are stored and sent at most this often (and at once for warnings and errors): a
# thousand-host build makes thousands of steps, and one INSERT and one message each would
# cost more than the steps themselves.
FLUSH_SECONDS = 0.25


class Build(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="builds")
    action = models.CharField(max_length=20, choices=Action.choices)
    host_name = models.CharField(max_length=100, blank=True, help_text="one host only (`-h`), or all")
    service_host = models.CharField(max_length=100, default="localhost", help_text="the daemon that runs it")
    default_service_host = models.CharField(
        max_length=100, blank=True, help_text="where the project's unplaced hosts live: the submitter's own"
    )
    step = models.CharField(max_length=200, blank=True, help_text="what it is in its chain, for pages and errors")
    after = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="next_steps",
        help_text="the Build of its chain it runs after",
    )
    options = models.JSONField(default=dict, blank=True, help_text="the action's own parameters")
    status = models.CharField(max_length=20, choices=BuildStatus.choices, default=BuildStatus.QUEUED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "projects"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.action} {self.project.name}"

    @property
    def home_of_unplaced(self):
        return self.default_service_host or self.service_host

    @property
    def ended(self):
        return self.status in ENDED

    # --- queued ------------------------------------------------------------------------

    def enqueue(self, conf, depends_on=None):
        """Its signed job on the queue of its service host; `depends_on`: the job it waits for (a chain)."""
        signing.enqueue(self.pk, self.service_host, conf, depends_on=depends_on)

    def enqueue_on_commit(self, conf):
        transaction.on_commit(lambda: self.enqueue(conf))

    # --- running -----------------------------------------------------------------------

    def start(self):
        """A run in the caller's own process: running now, and any run it supersedes failed."""
        self.status, self.started_at, self.error = BuildStatus.RUNNING, timezone.now(), ""
        self.save(update_fields=["status", "started_at", "error"])
        self.supersede_interrupted()

    def supersede_interrupted(self):
        """Fails the builds of this project on this service host that a killed process left running.

        They run one at a time there (a daemon's workers take turns per project,
        daemon/cluster/worker.py `project_turn`; or the command line itself), so
        one still running when this one starts will never end.
        """
        interrupted = Build.objects.filter(
            project_id=self.project_id, status=BuildStatus.RUNNING, service_host=self.service_host
        ).exclude(pk=self.pk)
        interrupted.update(
            status=BuildStatus.FAILED,
            finished_at=timezone.now(),
            error=f"interrupted: the process running it stopped; build {self.pk} took over",
        )

    def events_log(self, progress=None):
        return EventLog(self, progress)

    def log_event(self, step, message="", host_name="", level=EventLevel.INFO, done=0, total=0):
        """One event, stored at once and numbered like every other; sending it is the caller's."""
        event = EventLog(self).next_event(step, message, host_name, level, done, total)
        event.save()
        return event

    # --- ended -------------------------------------------------------------------------

    def succeed(self):
        self.status, self.finished_at = BuildStatus.SUCCEEDED, timezone.now()
        self.save(update_fields=["status", "finished_at"])

    def fail(self, reason, progress=None):
        """Failed with `reason`: stored, told to the live pages, and the rest of its chain failed."""
        self.status, self.finished_at, self.error = BuildStatus.FAILED, timezone.now(), reason
        self.save(update_fields=["status", "finished_at", "error"])
        events = self.events_log(progress)
        events.add("failed", reason, "", EventLevel.ERROR, 0, 0)
        events.flush()
        fail_rest_of_chain(self, reason)


class BuildEvent(models.Model):
    """One step of a build. Sequence numbers let a page join stored and live events with no gap."""

    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    step = models.CharField(max_length=60)
    host_name = models.CharField(max_length=100, blank=True)
    level = models.CharField(max_length=10, choices=EventLevel.choices, default=EventLevel.INFO)
    message = models.TextField(blank=True)
    done = models.PositiveIntegerField(default=0, help_text="steps done so far, for progress bars")
    total = models.PositiveIntegerField(default=0)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "projects"
        ordering = ["build", "seq"]
        constraints = [models.UniqueConstraint(fields=["build", "seq"], name="unique_event_seq")]

    def __str__(self):
        return f"{self.build_id}.{self.seq} {self.step}"


# --- the one way in ------------------------------------------------------------------------


def submit(
    project,
    action,
    service_host,
    *,
    default_service_host="",
    host_name="",
    options=None,
    requested_by=None,
    step="",
    after=None,
) -> Build:
    """A queued Build; no job yet (`enqueue`, `enqueue_on_commit`, or a run in this process)."""
    return Build.objects.create(
        project=project,
        action=action,
        service_host=service_host,
        default_service_host=default_service_host,
        host_name=host_name,
        options=options or {},
        requested_by=requested_by,
        step=step,
        after=after,
    )


def claim(build_id) -> bool:
    """Queued to running, atomically: of two deliveries of the same job, one gets the row."""
    return (
        Build.objects.filter(pk=build_id, status=BuildStatus.QUEUED).update(
            status=BuildStatus.RUNNING, started_at=timezone.now()
        )
        == 1
    )


def fail_queued(build_id, reason, cascade=True) -> bool:
    """Fails a Build no daemon has started (and the rest of its chain); False when one has, or it is gone."""
    updated = Build.objects.filter(pk=build_id, status=BuildStatus.QUEUED).update(
        status=BuildStatus.FAILED, finished_at=timezone.now(), error=reason
    )
    if not updated:
        return False
    build = Build.objects.select_related("project").get(pk=build_id)
    events = build.events_log()
    events.add("failed", reason, "", EventLevel.ERROR, 0, 0)
    events.flush()
    if cascade:
        fail_rest_of_chain(build, reason)
    return True


def fail_rest_of_chain(build, reason) -> list:
    """Fails the Builds queued after `build` in its chain and cancels their jobs; returns them."""
    if not build.step:
        return []  # not part of a chain
    failed, current = [], build
    while (current := Build.objects.filter(after=current).first()) is not None:
        if fail_queued(current.pk, f"not run: {build.step} failed: {reason}", cascade=False):
            signing.cancel(current.pk)
            failed.append(current)
    return failed


# --- events ----------------------------------------------------------------------------------


class EventLog:
    """A Build's events, numbered by the one counter there is, stored and sent in batches."""

    def __init__(self, build, progress=None):
        self.build, self.progress = build, progress
        self.seq = build.events.order_by("-seq").values_list("seq", flat=True).first() or 0
        self.pending = []
        self.flushed_at = time.monotonic()

    def next_event(self, step, message, host, level, done, total):
        """The next event, unsaved: the one place an event gets its number."""
        self.seq += 1
        return BuildEvent(
            build=self.build,
            seq=self.seq,
            step=step,
            host_name=host,
            level=level,
            message=message,
            done=done,
            total=total,
        )

    def add(self, step, message, host, level, done, total):
        event = self.next_event(step, message, host, level, done, total)
        self.pending.append(event)
        if self.progress:
            self.progress(event)
        if level != EventLevel.INFO or time.monotonic() - self.flushed_at > FLUSH_SECONDS:
            self.flush()
        return event

    def flush(self):
        """Stores what is pending; the last one stands for all of them on the live pages."""
        if not self.pending:
            return
        BuildEvent.objects.bulk_create(self.pending)
        broadcast(self.build.project, self.pending[-1])
        self.pending = []
        self.flushed_at = time.monotonic()


def project_group(project_id) -> str:
    return f"project-{project_id}"


def course_group(course_id) -> str:
    return f"course-{course_id}"


def event_groups(project) -> list[str]:
    groups = [project_group(project.pk)]
    if project.group_id:
        groups.append(course_group(project.group.course_id))
    return groups


def event_message(event, project_id) -> dict:
    """A build event as the live pages receive it, from the daemon or read back from the database."""
    return {
        "type": "build.event",
        "project": project_id,
        "build": event.build_id,
        "seq": event.seq,
        "step": event.step,
        "host": event.host_name,
        "level": event.level,
        "message": event.message,
        "done": event.done,
        "total": event.total,
        "time": event.at.isoformat() if event.at else None,
    }


def broadcast(project, event):
    """Sends a build event to the pages that watch it; a missing channel layer is no error."""
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        message = event_message(event, project.pk)
        for group in event_groups(project):
            async_to_sync(layer.group_send)(group, message)
    except Exception as exc:  # live pages are a nicety; the stored event is the truth
        log.debug("channel layer: %s", exc)
