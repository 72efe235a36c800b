"""Admin pages: a look at courses, groups and projects; courses are made on the course pages."""

from django.contrib import admin

from .models import Course, CourseFile, Group, Host, Project, Switch


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
