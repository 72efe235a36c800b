from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0006_build_shutdown_actions"),
    ]

    operations = [
        migrations.AddField(
            model_name="host",
            name="applied",
            field=models.JSONField(blank=True, default=dict, help_text="the host spec in effect while it runs"),
        ),
    ]
