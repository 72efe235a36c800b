"""The instructor's pages. Each view is a few lines: access helper first (projects.access),
then the models do the work; actions queue Builds and return at once (projects.actions).

Instructors are members of the `instructors` auth group (INSTRUCTORS_GROUP),
or staff; an instructor sees only the courses they own, staff or not (seeing
every course is for superusers and the `projects.view_all_courses`
permission: projects.access). Pages that show passwords or access links are
never cached. The students' pages are in projects/group_views.py.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from projects import actions, course_upgrade, retirement
from projects.access import course_for_instructor, project_for_instructor
from projects.choices import HostState, ProjectState
from projects.forms import UpdateCourseForm
from projects.models import CourseDraft
from projects.variable_table import CourseError

INSTRUCTORS_GROUP = "instructors"


def is_instructor(user):
    return user.is_authenticated and (user.is_staff or user.groups.filter(name=INSTRUCTORS_GROUP).exists())


def instructor_required(view):
    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not is_instructor(request.user):
            raise PermissionDenied("instructors only")
        return view(request, *args, **kwargs)

    return wrapped


def _get_draft_for_instructor(request, short_name, draft_id):
    course = course_for_instructor(request.user, short_name=short_name)
    return course, get_object_or_404(CourseDraft, pk=draft_id, course=course)


def home(request):
    if is_instructor(request.user):
        return redirect("courses")
    return render(request, "projects/home.html")


@instructor_required
def courses(request):
    courses = request.user.courses.annotate(group_count=Count("groups"))
    return render(request, "projects/courses.html", {"courses": courses})


@instructor_required
def course(request, short_name):
    course = course_for_instructor(request.user, short_name=short_name)
    groups = course.groups_with_projects().prefetch_related("project__hosts", "project__switches")
    return render(
        request, "projects/course.html", {"course": course, "groups": groups, "actions": actions.PAGE_ACTIONS}
    )


@instructor_required
def course_update(request, short_name):
    course = course_for_instructor(request.user, short_name=short_name)
    form = UpdateCourseForm(request.POST or None, request.FILES or None, course=course)
    if request.method == "POST" and form.is_valid():
        inputs = form.course_inputs
        course.drafts.all().delete()  # only the latest upload can be applied
        draft = course.drafts.create(created_by=request.user, **vars(inputs))
        return redirect("course_draft", course.short_name, draft.pk)
    return render(request, "projects/course_update.html", {"course": course, "form": form})


@instructor_required
def course_draft(request, short_name, draft_id):
    course, draft = _get_draft_for_instructor(request, short_name, draft_id)
    try:
        changes, problems = course.changes(course.expand(draft.inputs())), ()
        plans = course_upgrade.plans(course, draft.inputs())
    except CourseError as exc:  # the site changed since the upload (a name taken meanwhile)
        changes, problems, plans = (), exc.problems, {}
    except course_upgrade.UpgradeRefused as exc:
        plans = {}
        messages.error(request, f"The built guests cannot be upgraded to this version: {exc}")
    return render(
        request,
        "projects/course_draft.html",
        {"course": course, "draft": draft, "changes": changes, "problems": problems, "plans": plans},
    )


@instructor_required
@require_POST
def course_draft_upgrade(request, short_name, draft_id):
    """Apply the draft and bring the built guests to it: the plans are made before apply replaces the specs."""
    course, draft = _get_draft_for_instructor(request, short_name, draft_id)
    try:
        builds = course_upgrade.upgrade(course, draft.inputs(), request.user)
    except (CourseError, course_upgrade.UpgradeRefused) as exc:
        messages.error(request, f"Nothing was changed: {exc}")
        return redirect("course_draft", course.short_name, draft.pk)
    draft.delete()
    messages.success(request, f"Applied; {len(builds)} upgrade job{'s' if len(builds) != 1 else ''} queued.")
    return redirect(course)


@instructor_required
@require_POST
def course_draft_apply(request, short_name, draft_id):
    course, draft = _get_draft_for_instructor(request, short_name, draft_id)
    try:
        course.apply(draft.inputs())
    except CourseError:
        return redirect("course_draft", course.short_name, draft.pk)  # shows the problems
    draft.delete()
    return redirect(course)


@instructor_required
@require_POST
def course_draft_discard(request, short_name, draft_id):
    course, draft = _get_draft_for_instructor(request, short_name, draft_id)
    draft.delete()
    return redirect(course)


@instructor_required
@never_cache  # every group's file holds its passwords
def course_zip(request, short_name):
    course = course_for_instructor(request.user, short_name=short_name)
    response = HttpResponse(course.zip_bytes(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{course.short_name}.zip"'
    return response


@instructor_required
@never_cache
def course_credentials(request, short_name):
    course = course_for_instructor(request.user, short_name=short_name)
    link = lambda token: f"{request.build_absolute_uri(reverse('group_open'))}#{token}"  # noqa: E731
    response = HttpResponse(course.credentials_csv(link), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{course.short_name}-credentials.csv"'
    return response


@instructor_required
@require_POST
def course_action(request, short_name, action):
    course = course_for_instructor(request.user, short_name=short_name)
    _submit(request, [g.project for g in course.groups_with_projects()], action)
    return redirect(course)


@instructor_required
def course_delete(request, short_name):
    """Archive (remove every guest, keep the course) or delete (guests first, then the rows), confirmed
    on a page that says which projects still hold guests."""
    course = course_for_instructor(request.user, short_name=short_name)
    holders = retirement.holders_of(course)
    if request.method != "POST":
        return render(request, "projects/course_delete.html", {"course": course, "holders": holders})
    if request.POST.get("what") == "delete" and not holders.exists():
        name = course.name
        retirement.delete(course)
        messages.success(request, f"Course {name} and its groups were deleted.")
        return redirect("courses")
    builds = _archive(request, course)
    if request.POST.get("what") == "delete" and builds is not None:
        messages.info(request, "The course is deleted once its guests are gone: delete it again after the removal.")
    return redirect(course)


def _archive(request, course):
    try:
        builds = retirement.archive(course, request.user)
    except actions.ActionRefused as exc:
        messages.error(request, f"Nothing was queued: {exc}")
        return None
    messages.success(
        request,
        f"Removal of every guest queued ({len(builds)} job{'s' if len(builds) != 1 else ''}); the course is kept.",
    )
    return builds


@instructor_required
@never_cache  # the students' access link
def project(request, project_id):
    project = project_for_instructor(request.user, project_id)
    return render(
        request,
        "projects/project.html",
        {"project": project, "group": project.group, "hosts": project.hosts.all(), "actions": actions.PAGE_ACTIONS},
    )


@instructor_required
@require_POST
def project_action(request, project_id, action):
    """All of the project's hosts, or the one the form names (`host`)."""
    project = project_for_instructor(request.user, project_id)
    host = get_object_or_404(project.hosts, pk=request.POST["host"]) if request.POST.get("host") else None
    _submit(request, [project], action, host.name if host else "")
    return redirect(back(request, reverse("project", args=[project.pk])))


@instructor_required
@require_POST
def host_apply_pending(request, project_id, host_id):
    """Restarts one host so that it takes what is pending (a shut-down, then a start, queued in order)."""
    project = project_for_instructor(request.user, project_id)
    host = get_object_or_404(project.hosts, pk=host_id)
    if not host.pending():
        messages.info(request, f"{host.name} has no pending changes.")
    else:
        host.apply_pending(request.user)
        messages.success(request, f"{host.name} shuts down and starts again with its changes; progress shows below.")
    return redirect(back(request, reverse("project", args=[project.pk])))


@instructor_required
@require_POST
def group_new_link(request, short_name, group_id):
    """A new access link for one group: the old one (handed out, leaked) stops working at once."""
    course = course_for_instructor(request.user, short_name=short_name)
    group = get_object_or_404(course.groups.select_related("project"), pk=group_id)
    group.rotate_token()
    messages.success(
        request,
        f"Group {group.row} has a new access link; the old one no longer opens it "
        "(students who keep the group on their account keep it).",
    )
    return redirect(back(request, course.get_absolute_url()))


@instructor_required
def course_states(request, short_name):
    """Every host's state as its daemon last reported it, and every project's, for the course page."""
    course = course_for_instructor(request.user, short_name=short_name)
    hosts, projects = dict(HostState.choices), dict(ProjectState.choices)
    return JsonResponse(
        {
            "hosts": {
                pk: {"state": state, "label": hosts.get(state, state)}
                for pk, state in course.hosts().values_list("pk", "state")
            },
            "projects": {
                pk: {"state": state, "label": projects.get(state, state)}
                for pk, state in course.groups.values_list("project__pk", "project__state")
                if pk
            },
        }
    )


def back(request, default):
    """The page the form came from (`next`), if it is one of ours."""
    target = request.POST.get("next", "")
    return target if url_has_allowed_host_and_scheme(target, {request.get_host()}) else default


def _submit(request, projects, action, host_name=""):
    _submit_for(request, projects, action, actions.PAGE_ACTIONS, host_name)


def _submit_for(request, projects, action, allowed, host_name=""):
    """Queues `action` (one of `allowed`) and says so, or why not, on the next page."""
    if action not in allowed:
        raise Http404(f"no action {action}")
    requested_by = request.user if request.user.is_authenticated else None
    try:
        builds = actions.submit(projects, allowed[action], requested_by, host_name)
    except actions.ActionRefused as exc:
        messages.error(request, f"Nothing was queued: {exc}")
        return
    what = f"host {host_name}" if host_name else f"{len(projects)} project{'s' if len(projects) != 1 else ''}"
    messages.success(
        request,
        f"{action.capitalize()} of {what} queued ({len(builds)} job"
        f"{'s' if len(builds) != 1 else ''}); progress shows below.",
    )
