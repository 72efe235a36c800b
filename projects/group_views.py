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

from django.contrib import messages
from django.contrib.auth.decorators import login_required
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
    remember_group_token,
    session_tokens,
)
from projects.views import _submit_for, back


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
        {"host": host, "project": host.project, "group": host.project.group, "ws_path": f"/ws/console/{host.pk}/"},
    )
