"""Admin pages: a look at courses, groups, projects, hosts and builds; courses are made on the course pages.

Host states and builds are what the daemons report: shown, not edited.
"""

from django.contrib import admin

from projects import retirement
from projects.models import Build, BuildEvent, Course, CourseFile, Group, Host, Project, Switch


class KeepsGuestsFound(admin.ModelAdmin):
    """A row whose projects may still hold guests in libvirt is protected: deleting it would leave them
    with nothing to find them by. The delete page (one row or the bulk action) names them, deletes nothing."""

    project_path = ""  # from this model to Project

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        pks = [obj.pk for obj in objs]
        path = f"{self.project_path}__pk__in" if self.project_path else "pk__in"
        holders = retirement.holding_guests(Project.objects.filter(**{path: pks}))
        protected += [
            f"project {p.name} ({p.get_state_display()}) may still have guests in libvirt: remove them first"
            for p in holders
        ]
        return deleted, counts, perms_needed, protected


class CourseFileInline(admin.TabularInline):
    model = CourseFile
    extra = 0


@admin.register(Course)
class CourseAdmin(KeepsGuestsFound):
    project_path = "group__course"
    list_display = ["short_name", "name", "owner", "master_name", "table_name", "updated_at"]
    search_fields = ["short_name", "name"]
    exclude = ["table"]
    inlines = [CourseFileInline]


@admin.register(Group)
class GroupAdmin(KeepsGuestsFound):
    project_path = "group"
    list_display = ["course", "row", "project"]
    list_filter = ["course"]
    readonly_fields = ["token"]
    filter_horizontal = ["students"]


class HostInline(admin.TabularInline):
    model = Host
    extra = 0
    fields = ["name", "template", "memory", "service_host", "state"]


class SwitchInline(admin.TabularInline):
    model = Switch
    extra = 0


@admin.register(Project)
class ProjectAdmin(KeepsGuestsFound):
    list_display = ["name", "group", "state", "updated_at"]
    list_filter = ["state"]
    search_fields = ["name"]
    inlines = [HostInline, SwitchInline]


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "state", "service_host", "template", "vnc_port", "state_at"]
    list_filter = ["state", "service_host"]
    search_fields = ["name", "project__name"]
    readonly_fields = ["state", "domain_name", "vnc_port", "vnc_password", "addresses", "state_at"]


class BuildEventInline(admin.TabularInline):
    model = BuildEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = ["seq", "at", "step", "host_name", "level", "message", "done", "total"]


@admin.register(Switch)
class SwitchAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "service_host", "network_name"]
    list_filter = ["service_host"]
    search_fields = ["name", "project__name"]


@admin.register(Build)
class BuildAdmin(admin.ModelAdmin):
    list_display = ["pk", "project", "action", "host_name", "status", "requested_by", "created_at", "finished_at"]
    list_filter = ["status", "action"]
    search_fields = ["project__name"]
    readonly_fields = [
        "project",
        "action",
        "host_name",
        "options",
        "status",
        "requested_by",
        "error",
        "started_at",
        "finished_at",
    ]
    inlines = [BuildEventInline]
