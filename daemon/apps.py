from django.apps import AppConfig


class DaemonConfig(AppConfig):
    name = "daemon"
    verbose_name = "Service host daemon"
