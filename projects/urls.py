from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("courses/", views.courses, name="courses"),
    path("courses/new/", views.course_new, name="course_new"),
    path("courses/<slug:short_name>/", views.course, name="course"),
    path("courses/<slug:short_name>/update/", views.course_update, name="course_update"),
    path("courses/<slug:short_name>/drafts/<int:draft_id>/", views.course_draft, name="course_draft"),
    path("courses/<slug:short_name>/drafts/<int:draft_id>/apply/", views.course_draft_apply, name="course_draft_apply"),
    path("courses/<slug:short_name>/drafts/<int:draft_id>/discard/", views.course_draft_discard, name="course_draft_discard"),
    path("courses/<slug:short_name>/groups.zip", views.course_zip, name="course_zip"),
    path("courses/<slug:short_name>/credentials.csv", views.course_credentials, name="course_credentials"),
    path("g/<str:token>/", views.group, name="group"),
]
