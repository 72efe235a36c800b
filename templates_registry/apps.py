from django.apps import AppConfig


class TemplatesRegistryConfig(AppConfig):
    name = "templates_registry"
    verbose_name = "VM templates"
