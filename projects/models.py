"""Courses, groups, projects and their builds.

A Course is a master `.mln` (with the files it includes) and a variable
table; each table row is a Group, whose expansion is one Project. A Project
made from the command line (`mln build -f FILE`) has no group. Host and
Switch rows are derived from the project's spec, for listing and queries;
the spec itself (JSON) is what the daemon builds from. A Build is one job on
one project: the row is the truth, RQ only delivers it.
"""

import csv
import io
import re
import secrets
import zipfile

from django.conf import settings
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

from daemon import conf as mlnconf
from daemon.cluster import builds, chains, dispatch, heartbeat, upgrade_plan
from daemon.cluster.builds import Build, BuildEvent  # noqa: F401 (the job record's tables are this app's)
from projects.choices import Action, HostState, ProjectState
from projects.courses import CourseInputs, course_changes, pending_changes, template_problems
from projects.isolation import expand_bounded
from projects.variable_table import CourseError, Problem
from templates_registry.models import Template


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
        # projects.access: seeing every course is this permission (or being a superuser), never staff.
        permissions = [("view_all_courses", "Can see and act on every course")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("course", args=[self.short_name])

    def inputs(self):
        """The master, files and table as stored, for `expand`."""
        files = {f.name: f.content for f in self.files.all()}
        return CourseInputs(self.master_name, files, self.table_name, bytes(self.table))

    def expand(self, inputs=None):
        """Every group as `inputs` (default: what is stored) would make it; CourseError lists every problem.

        Nothing is stored. Generated passwords are those the course's projects
        already hold, so expanding again changes none of them.
        """

        inputs = inputs or self.inputs()
        previous = {g.row: (g.project.name, g.generated) for g in self.groups_with_projects()}
        # In a child process bounded by mln.conf's limits, time and memory: an upload never takes the site down.
        expansion = expand_bounded(self.short_name, inputs, previous, mlnconf.load())
        self._check_names_free(expansion)
        return expansion

    def _check_names_free(self, expansion):
        # Project names are unique on the whole site: libvirt names its objects after them.

        taken = Project.objects.filter(name__in=[g.project for g in expansion.groups]).select_related("group__course")
        if self.pk:
            taken = taken.exclude(group__course=self)
        # Another instructor's course is not named: its name is theirs to show.
        owners = {
            p.name: f"in your course {p.group.course.name}"
            if p.group and p.group.course.owner_id == self.owner_id
            else "in another course or made from the command line"
            for p in taken
        }
        problems = [
            Problem(
                expansion.table.name,
                g.row,
                1,
                f"group {g.index}: project {g.project} already exists ({owners[g.project]})",
                g.index,
            )
            for g in expansion.groups
            if g.project in owners
        ]
        if problems:
            raise CourseError(problems)

    def check_templates(self, expansion, conf=None):
        """CourseError when a host names a template that is not registered (or names none, and mln.conf's
        default_template is not): refused at upload, not at build."""
        problems = template_problems(expansion, usable_templates(), (conf or mlnconf.load()).default_template)
        if problems:
            raise CourseError(problems)
        return expansion

    def changes(self, expansion):
        """What applying `expansion` would do to each project: added, removed, changed."""
        old = {g.project.name: (g.row, g.project.tree) for g in self.groups_with_projects()}
        return course_changes(old, expansion)

    def upgrade_plans(self, inputs, conf=None):
        """{project: daemon.cluster.upgrade_plan.UpgradePlan} of what applying `inputs` would do to the built guests."""
        return upgrade_plan.course_plans(self, inputs, conf or mlnconf.load(), heartbeat.live(dispatch.connection()))

    @transaction.atomic
    def apply(self, inputs, expansion=None):
        """Store `inputs` and make the groups and projects what they expand to."""
        expansion = expansion or self.expand(inputs)
        self.master_name, self.table_name, self.table = inputs.master_name, inputs.table_name, inputs.table
        self.save()
        self.files.all().delete()
        CourseFile.objects.bulk_create(CourseFile(course=self, name=n, content=t) for n, t in inputs.files.items())
        _sync_groups(self, expansion)
        return expansion

    def hosts(self):
        return Host.objects.filter(project__group__course=self)

    def groups_with_projects(self):
        if not self.pk:
            return Group.objects.none()
        return self.groups.select_related("project")

    def zip_bytes(self):
        """Every group's .mln with the master and its files beside it, each expandable as it is."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for f in self.files.all():
                archive.writestr(f"{self.short_name}/{f.name}", f.content)
            for group in self.groups_with_projects():
                archive.writestr(f"{self.short_name}/{group.project.source_name}", group.project.source)
        return buffer.getvalue()

    def credentials_csv(self, link):
        """One row per group and host: the access link (`link(token)`), root's password, the console's
        password and every user with their password, typed in the course or generated for an @random cell."""
        hosts = {}
        for host in Host.objects.filter(project__group__course=self).select_related("project"):
            hosts.setdefault(host.project.group_id, []).append(host)
        groups = [(g, hosts.get(g.pk) or [None]) for g in self.groups_with_projects()]
        most_users = max((len(_host_credentials(h)[2]) for _, hs in groups for h in hs), default=0)
        out = io.StringIO()
        writer = csv.writer(out)
        user_columns = [c for n in range(1, most_users + 1) for c in (f"user {n}", f"password {n}")]
        writer.writerow(["group", "project", "access link", "host", "root password", "console password", *user_columns])
        for g, group_hosts in groups:
            for host in group_hosts:
                root, console, users = _host_credentials(host)
                cells = [c for pair in users for c in pair]
                cells += [""] * (len(user_columns) - len(cells))
                writer.writerow(
                    [g.row, g.project.name, link(g.token), host.name if host else "", root, console, *cells]
                )
        return out.getvalue()


def _host_credentials(host):
    """(root password, console password, [(user, password)]) from a host's spec; a crypt hash is no password."""
    spec = host.spec if host else {}
    users = [(name, _readable(password)) for name, password in (spec.get("users") or {}).items()]
    return _readable(spec.get("root_passwd") or ""), _readable(spec.get("vncpasswd") or ""), users


def _readable(password):
    # `users` and `root_passwd` take a crypt hash too ($1$, $5$, $6$, $y$...): a student cannot type it.
    return "(set as a hash)" if re.fullmatch(r"\$[0-9a-z]+\$\S+", str(password)) else str(password)


def usable_templates():
    """The names a host's `template` may use: the registered templates."""
    return set(Template.objects.values_list("name", flat=True))


class CourseFile(models.Model):
    """The master and every file it may include: a course includes only its own files."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255, help_text="path relative to the master's folder")
    content = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["course", "name"], name="unique_course_file")]

    def __str__(self):
        return self.name


class CourseDraft(models.Model):
    """A new version of a course's files, shown as changes per group before it is applied; with no
    course, the upload of a new course (its name and short name here), stored only once confirmed.
    An upload with errors is kept too, so the instructor uploads again only what they fix."""

    course = models.ForeignKey(Course, null=True, blank=True, on_delete=models.CASCADE, related_name="drafts")
    name = models.CharField(max_length=200, blank=True, help_text="a new course's name")
    short_name = models.CharField(max_length=40, blank=True, help_text="a new course's short name")
    master_name = models.CharField(max_length=255)
    files = models.JSONField(default=dict, help_text="name -> text, the master among them")
    table_name = models.CharField(max_length=255)
    table = models.BinaryField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        what = self.course.short_name if self.course else f"new course {self.short_name}"
        return f"draft of {what} ({self.created_at:%Y-%m-%d %H:%M})"

    def inputs(self):
        return CourseInputs(self.master_name, dict(self.files), self.table_name, bytes(self.table))


def _sync_groups(course, expansion):
    """Make the course's groups and projects those of `expansion`, in few queries.

    Groups are matched by project name: a group keeps its row id and access
    token, its project its id and state, for as long as its project exists,
    even when its row moves because rows were added or removed above it. A
    project is changed when its tree is, never for its generated
    file's header (which names the table file); a host that stays keeps its
    Host row, id and reported state (console links stay valid); only the
    rows of removed hosts and switches go.
    """
    old = {g.project.name: g for g in course.groups_with_projects()}
    wanted = {e.project for e in expansion.groups}
    Group.objects.filter(pk__in=[g.pk for name, g in old.items() if name not in wanted]).delete()
    # Rows may swap places: step every kept group aside from the unique (course, row) first.
    course.groups.update(row=models.F("row") + 1_000_000)
    kept, added = [], []
    for e in expansion.groups:
        group = old.get(e.project) or Group(course=course)
        group.row, group.variables, group.generated = e.index, e.variables, e.generated
        (kept if group.pk else added).append((group, e))
    Group.objects.bulk_update([g for g, _ in kept], ["row", "variables", "generated"])
    Group.objects.bulk_create([g for g, _ in added])
    # The spec is made from the tree; a stored spec may also hold the placement its daemons gave it.
    differs = [(g.project, e) for g, e in kept if g.project.tree != e.tree]
    same = [(g.project, e) for g, e in kept if g.project.tree == e.tree]
    changed = [project.fill(e) for project, e in differs]
    Project.objects.bulk_update(changed, ["source_name", "source", "tree", "spec", "updated_at"])
    for project, e in same:  # only the generated file's header (the table's name) may differ
        project.source_name, project.source = e.source_name, e.source
    Project.objects.bulk_update([p for p, _ in same], ["source_name", "source"])
    created = Project.objects.bulk_create([Project(group=g).fill(e) for g, e in added])
    for project in changed:
        project.sync_derived_rows()
    rows = [row for project in created for row in project.derived_rows()]
    Host.objects.bulk_create(r for r in rows if isinstance(r, Host))
    Switch.objects.bulk_create(r for r in rows if isinstance(r, Switch))


def new_token():
    return secrets.token_urlsafe(24)


class Group(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="groups")
    row = models.PositiveIntegerField(help_text="1-based row of the variable table")
    variables = models.JSONField(default=dict)
    # column -> the password made for an @random cell; kept so that re-expanding changes none.
    generated = models.JSONField(default=dict, blank=True)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    students = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="lab_groups")

    class Meta:
        ordering = ["course", "row"]
        constraints = [models.UniqueConstraint(fields=["course", "row"], name="unique_group_row")]

    def __str__(self):
        return f"{self.course.short_name} row {self.row}"

    def get_absolute_url(self):
        """The group's page, without its token: for whoever the access link already let in."""
        return reverse("group", args=[self.pk])

    def access_path(self):
        """The access link handed to students. The token rides in the fragment, which browsers never
        send: it reaches no access log or Referer, and the page posts it to open a session."""
        return f"{reverse('group_open')}#{self.token}"

    def rotate_token(self):
        """A new access link; the old one, and every session opened with it, stops working."""
        self.token = new_token()
        self.save(update_fields=["token"])


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

    def fill(self, expansion):
        """Take name, files and tree from a group's expansion (courses.GroupExpansion)."""
        self.name, self.source_name, self.source = expansion.project, expansion.source_name, expansion.source
        self.tree, self.spec = expansion.tree, expansion.spec.to_dict()
        self.updated_at = timezone.now()  # bulk_update does not touch auto_now fields
        return self

    def derived_rows(self):
        """Unsaved Host and Switch rows for the spec, for listing and queries."""
        hosts = [
            Host(
                project=self,
                name=h["name"],
                template=h["template"] or "",
                memory=h["memory"],
                service_host=h["service_host"] or "",
            )
            for h in self.spec["hosts"].values()
        ]
        return hosts + [Switch(project=self, name=name) for name in self.spec["switches"]]

    def sync_derived_rows(self):
        """Host and Switch rows for a changed spec: rows of hosts that stay are kept (id, reported
        state); a host never reported takes its listing values from the spec; removed ones go."""
        derived = self.derived_rows()
        for kind in (Host, Switch):
            wanted = {r.name: r for r in derived if isinstance(r, kind)}
            rows = {r.name: r for r in kind.objects.filter(project=self)}
            kind.objects.filter(pk__in=[r.pk for n, r in rows.items() if n not in wanted]).delete()
            kind.objects.bulk_create(r for n, r in wanted.items() if n not in rows)
            if kind is Host:
                for name, row in rows.items():
                    if name in wanted and row.state_at is None:  # never reported: the spec is all we know
                        row.template, row.memory = wanted[name].template, wanted[name].memory
                        row.service_host = wanted[name].service_host
                        row.save(update_fields=["template", "memory", "service_host"])

    @property
    def service_hosts(self):
        return sorted({h["service_host"] for h in self.spec.get("hosts", {}).values() if h.get("service_host")})

    def upgrade_plan(self, new_spec, conf=None):
        """What `mln upgrade` would do to make the built project `new_spec` (daemon/cluster/upgrade_plan.py)."""
        return upgrade_plan.plan_upgrade(self, new_spec, conf or mlnconf.load(), heartbeat.live(dispatch.connection()))

    def enqueue_build(self, action, service_host, conf=None, host_name="", requested_by=None, default_service_host=""):
        """A Build, and its job on the queue of `service_host` once the row is committed.

        `default_service_host`: where the hosts that name none live (the submitter's own service
        host); by default the daemon that runs the job takes them as its own."""
        build = builds.submit(
            self,
            action,
            service_host,
            default_service_host=default_service_host,
            host_name=host_name,
            requested_by=requested_by,
        )
        build.enqueue_on_commit(conf or mlnconf.load())
        return build

    def set_state(self, state):
        self.state = state
        self.save(update_fields=["state", "updated_at"])

    @transaction.atomic
    def record_hosts(self, host_reports, switch_reports):
        """What a daemon read from libvirt (daemon/agent/reports.py), into the Host and Switch rows."""
        rows = {h.name: h for h in self.hosts.all()}
        now, changed = timezone.now(), []
        for report in host_reports:
            row = rows.get(report.name) or Host(project=self, name=report.name)
            was_running = row.pk is not None and row.state == HostState.RUNNING
            for name in REPORTED_FIELDS:
                setattr(row, name, getattr(report, name))
            row.state_at = now
            row.applied = applied_spec(row, self.spec, was_running)
            changed.append(row)
        # One commit; bulk_update's CASE expressions are slower than plain UPDATEs.
        Host.objects.bulk_create([r for r in changed if r.pk is None])
        for row in changed:
            if row.pk is not None:
                row.save(update_fields=[*REPORTED_FIELDS, "state_at", "applied"])
        for report in switch_reports:
            Switch.objects.update_or_create(
                project=self,
                name=report.name,
                defaults={"service_host": report.service_host, "network_name": report.network_name},
            )


def applied_spec(row, project_spec, was_running):
    """The host's spec as its running guest took it: the spec of the moment it was seen starting (a
    guest takes its configuration as it boots); kept while it runs on; none while it does not run."""
    if row.state != HostState.RUNNING:
        return {}
    if was_running and row.applied:
        return row.applied
    return project_spec.get("hosts", {}).get(row.name, {})


# What a Host row takes from its daemon's report; never what was last requested.
REPORTED_FIELDS = [
    "template",
    "memory",
    "service_host",
    "state",
    "domain_name",
    "vnc_port",
    "vnc_password",
    "addresses",
]


class Switch(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="switches")
    name = models.CharField(max_length=100)
    service_host = models.CharField(max_length=100, blank=True)
    network_name = models.CharField(max_length=100, blank=True, help_text="the libvirt network")

    class Meta:
        ordering = ["project", "name"]
        verbose_name_plural = "switches"  # not "switchs"
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
    # The host's spec as the running guest took it when it started (Project.record_hosts): what the
    # spec says beyond it is pending, taking effect at the next start.
    applied = models.JSONField(default=dict, blank=True, help_text="the host spec in effect while it runs")

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="unique_host_name")]

    def __str__(self):
        return f"{self.project.name}/{self.name}"

    @property
    def spec(self):
        """The host's part of its project's spec: NICs and addresses, users and passwords."""
        return self.project.spec.get("hosts", {}).get(self.name, {})

    @property
    def in_effect(self):
        """The spec the guest runs with: what it started with while it runs, else what it will start with."""
        return self.applied or self.spec

    def pending(self):
        """What is configured but not yet in effect in the running guest (courses.Pending, in plain words)."""
        return pending_changes(self.applied, self.spec) if self.applied and self.state == HostState.RUNNING else []

    def apply_pending(self, requested_by=None, conf=None):
        """Restarts the host, shut down then started again as one chain of Builds, so that it takes what
        is pending; a new template or disk size takes a rebuild, which this does not do (the page says so)."""
        conf = conf or mlnconf.load()
        service_host = self.service_host or self.spec.get("service_host") or conf.service_host
        steps = [
            chains.Step(f"shut down {self.name} to apply its changes", Action.STOP, service_host, self.name),
            chains.Step(f"start {self.name} with its changes", Action.START, service_host, self.name),
        ]
        chain = chains.create(self.project, steps, conf, requested_by)
        transaction.on_commit(lambda: chains.enqueue(chain, conf))
        return chain
