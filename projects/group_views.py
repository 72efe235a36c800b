"""The students' pages: their group (through its access link), start and stop of its hosts, consoles.

A student needs no account: opening the access link `/g/<token>/` keeps the
token in the session (projects.access), and from then on this browser may
see that group's hosts and consoles. A logged-in student may also keep the
group on their account (Group.students). The course's owner and staff see
these pages too, as a student would.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from . import actions
from .access import group_for_token, host_for_viewer, remember_group_token, session_tokens
from .views import _submit_for, back


def group(request, token):
    group = group_for_token(token)
    remember_group_token(request.session, group)
    project = group.project
    return render(request, "projects/group.html", {
        "group": group, "project": project, "hosts": project.hosts.all(), "student_actions": actions.STUDENT_ACTIONS,
        "bound": request.user.is_authenticated and group.students.filter(pk=request.user.pk).exists()})


@login_required
@require_POST
def group_bind(request, token):
    group = group_for_token(token)
    group.students.add(request.user)
    remember_group_token(request.session, group)
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


def console(request, host_id):
    host = host_for_viewer(request.user, host_id, session_tokens(request.session))
    return render(request, "projects/console.html", {
        "host": host, "project": host.project, "group": host.project.group,
        "ws_path": f"/ws/console/{host.pk}/"})
