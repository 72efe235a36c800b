"""The students' pages: their group (through its access link), start and stop of its hosts, consoles.

A student needs no account. The access link is `/g/#<token>`: the token is
in the fragment, which a browser never sends, so it reaches no access log
and no Referer. The page at `/g/` posts it (a few lines of script, or the
student pastes it), the token is kept in the session (projects.access), and
the browser lands on `/groups/<id>/`, whose address holds no secret. Links
of the older form `/g/<token>/` still open their group the same way. A
logged-in student may also keep the group on their account (Group.students).
The course's owner sees these pages too, as a student would.

Pages that show passwords are never cached.
"""

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from projects import actions
from projects.access import (
    NoAccess,
    group_for_token,
    group_for_viewer,
    host_for_viewer,
    project_for_instructor,
    project_for_watcher,
    remember_group_token,
    session_tokens,
)
from projects.choices import BuildStatus, HostState, ProjectState
from projects.views import _submit_for, back

# A student's words for what libvirt says (projects.choices holds the instructors' ones).
STUDENT_HOST_WORDS = {
    HostState.ABSENT: "not created yet",
    HostState.DEFINED: "off",
    HostState.STOPPED: "off",
    HostState.RUNNING: "running",
    HostState.FAILED: "failed",
}
STUDENT_PROJECT_WORDS = {
    ProjectState.NEW: "not created yet",
    ProjectState.BUILDING: "being created",
    ProjectState.BUILT: "ready, off",
    ProjectState.RUNNING: "running",
    ProjectState.STOPPED: "off",
    ProjectState.FAILED: "failed",
    ProjectState.REMOVED: "removed",
}
ACTION_WORDS = {
    "build": "Creating",
    "rebuild": "Re-creating",
    "start": "Starting",
    "stop": "Shutting down",
    "poweroff": "Powering off",
    "reboot": "Rebooting",
    "reset": "Resetting",
}

# What the daemons say (command-line wording) -> what a student can act on. First match wins.
PLAIN_REASONS = [
    (r"not built|run mln build", "it has not been created yet. Ask your instructor to build your group."),
    (r"display .*(in use|taken)|port .*(in use|taken)", "its screen's network port is taken. Tell your instructor."),
    (r"interrupted", "the server restarted while it ran. Try again."),
    (r"not run: ", "an earlier step of the same job failed. Try again, or tell your instructor."),
    (r"memory|ENOMEM|Cannot allocate", "the server has not enough free memory now. Try again later."),
    (r"timed? ?out", "it took too long. Try again."),
]
CLI_WORDING = re.compile(
    r"\b(mln|virsh|libvirt|qemu|internal error|traceback|service host|domain|\w+(Error|Exception))\b|[(){}\[\]/]",
    re.IGNORECASE,
)


@never_cache
def group_open(request):
    """GET: the page that reads the token from the link's fragment. POST: the token opens its group."""
    if request.method != "POST":
        return render(request, "projects/group_open.html")
    try:
        group = group_for_token(request.POST.get("token", "").strip())
    except NoAccess:
        messages.error(request, "This access link opens no group: it may have been replaced by a new one.")
        return render(request, "projects/group_open.html", status=404)
    return _enter(request, group)


@never_cache
def group_link(request, token):
    """An access link of the older form: the same exchange, then an address without the token."""
    return _enter(request, group_for_token(token))


def _enter(request, group):
    remember_group_token(request.session, group)
    return redirect(group)


@never_cache  # the group's passwords
def group(request, group_id):
    group = group_for_viewer(request.user, group_id, session_tokens(request.session))
    project = group.project
    return render(
        request,
        "projects/group.html",
        {
            "group": group,
            "project": project,
            "hosts": project.hosts.all(),
            "student_actions": actions.STUDENT_ACTIONS,
            "bound": request.user.is_authenticated and group.students.filter(pk=request.user.pk).exists(),
            "truth": project_truth(project, student=True),
        },
    )


@login_required
@require_POST
def group_bind(request, group_id):
    group = group_for_viewer(request.user, group_id, session_tokens(request.session))
    group.students.add(request.user)
    messages.success(request, f"Group {group.project.name} is now on your account {request.user.get_username()}.")
    return redirect(group)


@require_POST
def host_action(request, host_id, action):
    """A student's start or stop of one of their group's hosts."""
    host = host_for_viewer(request.user, host_id, session_tokens(request.session))
    if action not in actions.STUDENT_ACTIONS:
        messages.error(request, f"A host can be started or stopped here, not {action}.")
    else:
        _submit_for(request, [host.project], action, actions.STUDENT_ACTIONS, host.name)
    return redirect(back(request, host.project.group.get_absolute_url() if host.project.group else reverse("home")))


@never_cache  # the console's password
def console(request, host_id):
    host = host_for_viewer(request.user, host_id, session_tokens(request.session))
    return render(
        request,
        "projects/console.html",
        {
            "host": host,
            "project": host.project,
            "group": host.project.group,
            "ws_path": f"/ws/console/{host.pk}/",
            "truth": project_truth(host.project, student=True),
            "host_words": STUDENT_HOST_WORDS.get(host.state, host.state),
        },
    )


def in_plain_words(build):
    """Why `build` failed, in words a student understands (never the command line's)."""
    what = f"{ACTION_WORDS.get(build.action, build.action.capitalize())} {build.host_name or 'your hosts'}"
    reason = build.error or ""
    for pattern, words in PLAIN_REASONS:
        if re.search(pattern, reason, re.IGNORECASE):
            return f"{what} failed: {words}"
    detail = reason.split(": ", 2)[-1].strip()  # "start server: <why>"
    if detail and len(detail) <= 200 and not CLI_WORDING.search(reason):
        return f"{what} failed: {detail}."
    return f"{what} failed. Try again; if it fails again, tell your instructor (the project page says why)."


def project_truth(project, student):
    """What the live pages show of `project` now: its hosts' and its own states, its job in progress,
    and why its latest job failed (if it did)."""
    host_words, project_words = (
        (STUDENT_HOST_WORDS, STUDENT_PROJECT_WORDS)
        if student
        else (dict(HostState.choices), dict(ProjectState.choices))
    )
    latest = project.builds.order_by("-pk").first()
    busy = project.builds.filter(status__in=[BuildStatus.QUEUED, BuildStatus.RUNNING]).order_by("pk").first()
    return {
        "hosts": {
            host.pk: {
                "name": host.name,
                "project": project.pk,
                "state": host.state,
                "label": host_words.get(host.state, host.state),
            }
            for host in project.hosts.all()
        },
        "projects": {project.pk: {"state": project.state, "label": project_words.get(project.state, project.state)}},
        "busy": busy
        and {
            "action": busy.action,
            "host": busy.host_name,
            "text": f"{ACTION_WORDS.get(busy.action, busy.action.capitalize())} {busy.host_name or 'all hosts'}…",
        },
        "problem": in_plain_words(latest) if latest and latest.status == BuildStatus.FAILED else "",
    }


@never_cache
def project_states(request, project_id):
    """The states of a project's hosts as their daemon last reported them, for the pages that follow
    them live (static/js/states.js): its instructor's, or its group's students' (in their words)."""
    try:
        project = project_for_instructor(request.user, project_id)
        student = request.GET.get("for") == "student"
    except NoAccess:
        project = project_for_watcher(request.user, project_id, session_tokens(request.session))
        student = True
    return JsonResponse(project_truth(project, student))
