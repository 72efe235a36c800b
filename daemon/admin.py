"""The daemons' page in the admin: `mln daemon_status` for staff, linked from the admin index."""

from django.contrib import admin
from django.template.response import TemplateResponse

from . import conf as mlnconf
from . import heartbeat

# The index gets a "Service host daemons" link; the page itself has no model behind it.
admin.site.index_template = "daemon/admin_index.html"


def daemon_status(request):
    from projects.cli.cluster import status_row
    import django_rq

    rows = [status_row(s) for s in heartbeat.statuses(django_rq.get_connection("default"),
                                                      mlnconf.load().daemon_status_query)]
    context = {**admin.site.each_context(request), "title": "Service host daemons", "rows": rows,
               "columns": list(rows[0]) if rows else []}
    return TemplateResponse(request, "daemon/admin_daemons.html", context)
