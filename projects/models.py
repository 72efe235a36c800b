"""Courses, groups, projects and their builds.

A Course is a master `.mln` (with the files it includes) and a variable
table; each table row is a Group, whose expansion is one Project. A Project
made from the command line (`mln build -f FILE`) has no group. Host and
Switch rows are derived from the project's spec, for listing and queries;
the spec itself (JSON) is what the daemon builds from. A Build is one job on
one project: the row is the truth, RQ only delivers it.
"""

import secrets

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from .choices import Action, BuildStatus, EventLevel, HostState, ProjectState


class Course(models.Model):
    name = models.CharField(max_length=200)
    short_name = models.SlugField(max_length=40, unique=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="courses")
    master_name = models.CharField(max_length=255, help_text="file name of the master .mln")
    table_name = models.CharField(max_length=255, blank=True)
    table = models.BinaryField(blank=True, default=b"", help_text="the variable table as uploaded (CSV or XLSX)")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["short_name"]

    def __str__(self):
        return self.name


class CourseFile(models.Model):
    """The master and every file it may include: a course includes only its own files."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255, help_text="path relative to the master's folder")
    content = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["course", "name"], name="unique_course_file")]

    def __str__(self):
        return self.name


def new_token():
    return secrets.token_urlsafe(24)


class Group(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="groups")
    row = models.PositiveIntegerField(help_text="1-based row of the variable table")
    variables = models.JSONField(default=dict)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    students = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="lab_groups")

    class Meta:
        ordering = ["course", "row"]
        constraints = [models.UniqueConstraint(fields=["course", "row"], name="unique_group_row")]

    def __str__(self):
        return f"{self.course.short_name} row {self.row}"


class Project(models.Model):
    # Globally unique: libvirt objects on a service host are named after it.
    name = models.CharField(max_length=100, unique=True)
    group = models.OneToOneField(Group, null=True, blank=True, on_delete=models.CASCADE, related_name="project")
    source_name = models.CharField(max_length=255, help_text="file name of the project's .mln")
    source = models.TextField(help_text="the project's .mln, as expanded from")
    tree = models.JSONField(default=dict, help_text="the resolved tree, as `mln expand` prints it")
    spec = models.JSONField(default=dict, help_text="ProjectSpec.to_dict()")
    state = models.CharField(max_length=20, choices=ProjectState.choices, default=ProjectState.NEW)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def enqueue_build(self, action, service_host, host_name="", options=None, requested_by=None):
        """A Build row, and its job on the queue of `service_host` once the row is committed."""
        build = Build.objects.create(project=self, action=action, host_name=host_name,
                                     options={**(options or {}), "service_host": service_host},
                                     requested_by=requested_by)
        transaction.on_commit(lambda: build.enqueue())
        return build



class Switch(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="switches")
    name = models.CharField(max_length=100)
    service_host = models.CharField(max_length=100, blank=True)
    network_name = models.CharField(max_length=100, blank=True, help_text="the libvirt network")

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="unique_switch_name")]

    def __str__(self):
        return f"{self.project.name}/{self.name}"


class Host(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="hosts")
    name = models.CharField(max_length=100)
    template = models.CharField(max_length=200, blank=True)
    memory = models.BigIntegerField(null=True, blank=True, help_text="bytes")
    service_host = models.CharField(max_length=100, blank=True)
    # Reported by the daemon from libvirt, never what was last requested.
    state = models.CharField(max_length=20, choices=HostState.choices, default=HostState.ABSENT)
    domain_name = models.CharField(max_length=200, blank=True)
    vnc_port = models.PositiveIntegerField(null=True, blank=True)
    vnc_password = models.CharField(max_length=64, blank=True, help_text="the console's password")
    addresses = models.JSONField(default=dict, blank=True, help_text="interface -> address")
    state_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="unique_host_name")]

    def __str__(self):
        return f"{self.project.name}/{self.name}"


class Build(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="builds")
    action = models.CharField(max_length=20, choices=Action.choices)
    host_name = models.CharField(max_length=100, blank=True, help_text="one host only (`-h`), or all")
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=BuildStatus.choices, default=BuildStatus.QUEUED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.action} {self.project.name}"

    @property
    def service_host(self):
        return self.options.get("service_host", "localhost")

    def enqueue(self):
        import django_rq
        from rq import Queue

        # One queue per service host, named at run time: not one of settings.RQ_QUEUES.
        queue = Queue(f"mln.{self.service_host}", connection=django_rq.get_connection("default"))
        queue.enqueue("daemon.jobs.run", self.pk, job_id=f"build-{self.pk}", job_timeout=3600)

    def start(self):
        self.status, self.started_at, self.error = BuildStatus.RUNNING, timezone.now(), ""
        self.save(update_fields=["status", "started_at", "error"])

    def succeed(self):
        self.status, self.finished_at = BuildStatus.SUCCEEDED, timezone.now()
        self.save(update_fields=["status", "finished_at"])

    def fail(self, reason):
        self.status, self.finished_at, self.error = BuildStatus.FAILED, timezone.now(), reason
        self.save(update_fields=["status", "finished_at", "error"])

    def log_event(self, step, message="", host_name="", level=EventLevel.INFO, done=0, total=0):
        """Appends the next numbered event; one writer per build, so a counter suffices."""
        if not hasattr(self, "_seq"):
            self._seq = self.events.aggregate(models.Max("seq"))["seq__max"] or 0
        self._seq += 1
        return BuildEvent.objects.create(build=self, seq=self._seq, step=step, host_name=host_name,
                                         level=level, message=message, done=done, total=total)



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
        ordering = ["build", "seq"]
        constraints = [models.UniqueConstraint(fields=["build", "seq"], name="unique_event_seq")]
