from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from daemon.admin import daemon_status

urlpatterns = [
    # Pages link the icon; this is for what asks the old way (the admin's pages, a browser on its own).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("admin/daemons/", admin.site.admin_view(daemon_status), name="daemon-status"),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("", include("projects.urls")),
]
