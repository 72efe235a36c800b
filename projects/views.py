"""Pages. Each view is a few lines: access helper first, then the models do the work.

Instructors are staff users and members of the `instructors` auth group
(INSTRUCTORS_GROUP); an instructor sees only the courses they own.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from .forms import NewCourseForm, UpdateCourseForm
from .models import Course, CourseDraft, Group
from .tables import CourseError

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


def _get_course_for_instructor(request, short_name):
    # Someone else's course is "not found", not "forbidden": its name is not yours to learn.
    return get_object_or_404(Course, short_name=short_name, owner=request.user)


def _get_draft_for_instructor(request, short_name, draft_id):
    course = _get_course_for_instructor(request, short_name)
    return course, get_object_or_404(CourseDraft, pk=draft_id, course=course)


def _get_group_for_token(token):
    return get_object_or_404(Group.objects.select_related("project", "course"), token=token)


def home(request):
    if is_instructor(request.user):
        return redirect("courses")
    return render(request, "projects/home.html")


@instructor_required
def courses(request):
    courses = request.user.courses.annotate(group_count=Count("groups"))
    return render(request, "projects/courses.html", {"courses": courses})


@instructor_required
def course_new(request):
    form = NewCourseForm(request.POST or None, request.FILES or None, owner=request.user)
    if request.method == "POST" and form.is_valid():
        return redirect(form.save())
    return render(request, "projects/course_new.html", {"form": form})


@instructor_required
def course(request, short_name):
    course = _get_course_for_instructor(request, short_name)
    groups = course.groups_with_projects().prefetch_related("project__hosts", "project__switches")
    return render(request, "projects/course.html", {"course": course, "groups": groups})


@instructor_required
def course_update(request, short_name):
    course = _get_course_for_instructor(request, short_name)
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
    except CourseError as exc:  # the site changed since the upload (a name taken meanwhile)
        changes, problems = (), exc.problems
    return render(request, "projects/course_draft.html",
                  {"course": course, "draft": draft, "changes": changes, "problems": problems})


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
def course_zip(request, short_name):
    course = _get_course_for_instructor(request, short_name)
    response = HttpResponse(course.zip_bytes(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{course.short_name}.zip"'
    return response


@instructor_required
def course_credentials(request, short_name):
    course = _get_course_for_instructor(request, short_name)
    link = lambda token: request.build_absolute_uri(reverse("group", args=[token]))  # noqa: E731
    response = HttpResponse(course.credentials_csv(link), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{course.short_name}-credentials.csv"'
    return response


def group(request, token):
    # The token is the credential: a later issue gives students their own page and login.
    group = _get_group_for_token(token)
    return render(request, "projects/group.html", {"group": group, "project": group.project})
