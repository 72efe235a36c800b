"""Admin pages: a look at courses, groups, projects, hosts and builds; courses are made on the course pages.

Host states and builds are what the daemons report: shown, not edited.
"""

from django.contrib import admin

from projects.models import Build, BuildEvent, Course, CourseFile, Group, Host, Project, Switch


class CourseFileInline(admin.TabularInline):
    model = CourseFile
    extra = 0


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ["short_name", "name", "owner", "master_name", "table_name", "updated_at"]
    search_fields = ["short_name", "name"]
    exclude = ["table"]
    inlines = [CourseFileInline]


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
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
class ProjectAdmin(admin.ModelAdmin):
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
