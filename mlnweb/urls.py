from django.contrib import admin
from django.urls import include, path

from daemon.admin import daemon_status

urlpatterns = [
    path("admin/daemons/", admin.site.admin_view(daemon_status), name="daemon-status"),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("", include("projects.urls")),
]
