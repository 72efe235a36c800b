"""A new course: upload, preview, then create, as an update is (CourseDraft with no course).

Nothing of the course is stored until the instructor confirms the preview.
Each try's files are kept in the instructor's one new-course draft, so a try
with an error loses no file: the next try uploads only what it fixes.
"""

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from projects.forms import NewCourseForm
from projects.models import Course, CourseDraft
from projects.variable_table import CourseError
from projects.views import instructor_required


def _get_new_draft(request, draft_id):
    """The user's own new-course draft: another instructor's is not found."""
    return get_object_or_404(CourseDraft, pk=draft_id, course=None, created_by=request.user)


def _kept_draft(request):
    draft_id = (request.POST if request.method == "POST" else request.GET).get("draft", "")
    if not draft_id.isdigit() or len(draft_id) > 18:
        return None
    return CourseDraft.objects.filter(pk=int(draft_id), course=None, created_by=request.user).first()


def _keep(request, form):
    """This try's files (over those kept) in the user's one new-course draft; the previous one goes."""
    inputs = form.uploaded_inputs()
    if inputs is None:
        return form.kept
    data = form.cleaned_data
    with transaction.atomic():
        CourseDraft.objects.filter(course=None, created_by=request.user).delete()
        return CourseDraft.objects.create(
            created_by=request.user,
            name=data.get("name", "")[:200],
            short_name=data.get("short_name", "")[:40],
            **vars(inputs),
        )


@instructor_required
def course_new(request):
    kept = _kept_draft(request)
    initial = {"name": kept.name, "short_name": kept.short_name} if kept else None
    form = NewCourseForm(request.POST or None, request.FILES or None, owner=request.user, kept=kept, initial=initial)
    if request.method == "POST":
        valid = form.is_valid()
        kept = _keep(request, form)
        if valid:
            return redirect("course_new_draft", kept.pk)
        form.use_kept(kept)  # the page's next try needs to send only what it fixes
    return render(request, "projects/course_new.html", {"form": form, "kept": kept})


def _draft_course(request, draft):
    return Course(owner=request.user, name=draft.name, short_name=draft.short_name)


@instructor_required
def course_new_draft(request, draft_id):
    """The preview: every group's project, before anything is stored."""
    draft = _get_new_draft(request, draft_id)
    course, groups, problems = _draft_course(request, draft), (), ()
    try:
        expansion = course.check_templates(course.expand(draft.inputs()))
        # summary() opens with the group and project, which have their own columns here
        groups = [(g.index, g.project, g.summary().partition(": ")[2]) for g in expansion.groups]
    except CourseError as exc:  # the site changed since the upload (a template removed meanwhile)
        problems = exc.problems
    taken = Course.objects.filter(short_name=draft.short_name).exists()
    return render(
        request,
        "projects/course_new.html",
        {"draft": draft, "course": course, "groups": groups, "problems": problems, "taken": taken},
    )


@instructor_required
@require_POST
def course_new_create(request, draft_id):
    draft = _get_new_draft(request, draft_id)
    course = _draft_course(request, draft)
    try:
        with transaction.atomic():
            if Course.objects.filter(short_name=course.short_name).exists():
                raise IntegrityError
            course.apply(draft.inputs(), course.check_templates(course.expand(draft.inputs())))
            draft.delete()
    except CourseError:
        return redirect("course_new_draft", draft.pk)  # shows the problems
    except IntegrityError:
        messages.error(request, f"A course with the short name {course.short_name} exists already: nothing was stored.")
        return redirect("course_new_draft", draft.pk)
    messages.success(request, f"Course {course.name} created with {course.groups.count()} groups.")
    return redirect(course)


@instructor_required
@require_POST
def course_new_discard(request, draft_id):
    _get_new_draft(request, draft_id).delete()
    return redirect("courses")
