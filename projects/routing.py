"""Websocket URLs of the projects app; mlnweb.asgi wraps them in origin and auth checks."""

from django.urls import path, re_path

from projects.consumers import ConsoleConsumer, ProgressConsumer

websocket_urlpatterns = [
    re_path(r"^ws/progress/(?P<kind>course|project)/(?P<pk>[0-9]+)/$", ProgressConsumer.as_asgi()),
    path("ws/console/<int:host_id>/", ConsoleConsumer.as_asgi()),
]
