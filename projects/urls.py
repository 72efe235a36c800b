from django.contrib.auth import views as auth_views
from django.urls import path

from projects import group_views, new_course_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("courses/", views.courses, name="courses"),
    path("courses/new/", new_course_views.course_new, name="course_new"),
    path("courses/new/<int:draft_id>/", new_course_views.course_new_draft, name="course_new_draft"),
    path("courses/new/<int:draft_id>/create/", new_course_views.course_new_create, name="course_new_create"),
    path("courses/new/<int:draft_id>/discard/", new_course_views.course_new_discard, name="course_new_discard"),
    path("courses/<slug:short_name>/", views.course, name="course"),
    path("courses/<slug:short_name>/states.json", views.course_states, name="course_states"),
    path("courses/<slug:short_name>/actions/<slug:action>/", views.course_action, name="course_action"),
    path("courses/<slug:short_name>/update/", views.course_update, name="course_update"),
    path("courses/<slug:short_name>/drafts/<int:draft_id>/", views.course_draft, name="course_draft"),
    path("courses/<slug:short_name>/drafts/<int:draft_id>/apply/", views.course_draft_apply, name="course_draft_apply"),
    path(
        "courses/<slug:short_name>/drafts/<int:draft_id>/upgrade/",
        views.course_draft_upgrade,
        name="course_draft_upgrade",
    ),
    path(
        "courses/<slug:short_name>/drafts/<int:draft_id>/discard/",
        views.course_draft_discard,
        name="course_draft_discard",
    ),
    path("courses/<slug:short_name>/delete/", views.course_delete, name="course_delete"),
    path("courses/<slug:short_name>/groups.zip", views.course_zip, name="course_zip"),
    path("courses/<slug:short_name>/credentials.csv", views.course_credentials, name="course_credentials"),
    path("projects/<int:project_id>/", views.project, name="project"),
    path("projects/<int:project_id>/actions/<slug:action>/", views.project_action, name="project_action"),
    path(
        "projects/<int:project_id>/hosts/<int:host_id>/apply-pending/",
        views.host_apply_pending,
        name="host_apply_pending",
    ),
    path("courses/<slug:short_name>/groups/<int:group_id>/new-link/", views.group_new_link, name="group_new_link"),
    path("g/", group_views.group_open, name="group_open"),
    path("g/<str:token>/", group_views.group_link, name="group_link"),
    path("groups/<int:group_id>/", group_views.group, name="group"),
    path("groups/<int:group_id>/keep/", group_views.group_bind, name="group_bind"),
    path("hosts/<int:host_id>/console/", group_views.console, name="console"),
    path("projects/<int:project_id>/states.json", group_views.project_states, name="project_states"),
    path("hosts/<int:host_id>/actions/<slug:action>/", group_views.host_action, name="host_action"),
]
