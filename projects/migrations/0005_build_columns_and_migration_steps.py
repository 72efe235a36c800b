"""Build options that queries filter on become columns; `migrate` becomes its four named steps."""

import django.db.models.deletion
from django.db import migrations, models

SIDES = {"out": "migrate_out", "in": "migrate_in", "live": "migrate_live", "arrived": "migrate_arrived"}
COLUMNS = ("service_host", "default_service_host", "step")


def options_to_columns(apps, schema_editor):
    Build = apps.get_model("projects", "Build")
    for build in Build.objects.all().iterator():
        options = dict(build.options or {})
        build.service_host = options.pop("service_host", None) or "localhost"
        build.default_service_host = options.pop("default_service_host", None) or ""
        build.step = options.pop("step", None) or ""
        after = options.pop("after", None)
        build.after_id = after if after and Build.objects.filter(pk=after).exists() else None
        if build.action == "migrate":
            build.action = SIDES.get(options.pop("side", None), "migrate_out")
        build.options = options
        build.save(update_fields=[*COLUMNS, "after", "action", "options"])


def columns_to_options(apps, schema_editor):
    Build = apps.get_model("projects", "Build")
    sides = {v: k for k, v in SIDES.items()}
    for build in Build.objects.all().iterator():
        options = {
            **(build.options or {}),
            "service_host": build.service_host,
            "default_service_host": build.default_service_host,
        }
        if build.step:
            options["step"], options["after"] = build.step, build.after_id
        if build.action in sides:
            build.action, options["side"] = "migrate", sides[build.action]
        build.options = options
        build.save(update_fields=["action", "options"])


class Migration(migrations.Migration):
    dependencies = [("projects", "0004_course_view_all_courses")]

    operations = [
        migrations.AddField(
            "build",
            "service_host",
            models.CharField(default="localhost", help_text="the daemon that runs it", max_length=100),
        ),
        migrations.AddField(
            "build",
            "default_service_host",
            models.CharField(
                blank=True, help_text="where the project's unplaced hosts live: the submitter's own", max_length=100
            ),
        ),
        migrations.AddField(
            "build",
            "step",
            models.CharField(blank=True, help_text="what it is in its chain, for pages and errors", max_length=200),
        ),
        migrations.AddField(
            "build",
            "after",
            models.ForeignKey(
                blank=True,
                help_text="the Build of its chain it runs after",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="next_steps",
                to="projects.build",
            ),
        ),
        migrations.AlterField(
            "build", "options", models.JSONField(blank=True, default=dict, help_text="the action's own parameters")
        ),
        migrations.AlterField(
            "build",
            "action",
            models.CharField(
                choices=[
                    ("build", "build"),
                    ("rebuild", "rebuild"),
                    ("start", "start"),
                    ("stop", "stop"),
                    ("remove", "remove"),
                    ("export", "export"),
                    ("import", "import"),
                    ("upgrade", "upgrade"),
                    ("migrate_out", "export a moving host"),
                    ("migrate_in", "import a moved host"),
                    ("migrate_live", "migrate live"),
                    ("migrate_arrived", "confirm a live arrival"),
                    ("migrate", "migrate"),
                ],
                max_length=20,
            ),
        ),
        migrations.RunPython(options_to_columns, columns_to_options),
        migrations.AlterField(
            "build",
            "action",
            models.CharField(
                choices=[
                    ("build", "build"),
                    ("rebuild", "rebuild"),
                    ("start", "start"),
                    ("stop", "stop"),
                    ("remove", "remove"),
                    ("export", "export"),
                    ("import", "import"),
                    ("upgrade", "upgrade"),
                    ("migrate_out", "export a moving host"),
                    ("migrate_in", "import a moved host"),
                    ("migrate_live", "migrate live"),
                    ("migrate_arrived", "confirm a live arrival"),
                ],
                max_length=20,
            ),
        ),
    ]
