"""The daemons' page in the admin: `mln daemon_status` for staff, linked from the admin index."""

import django_rq
from django.contrib import admin
from django.template.response import TemplateResponse

from daemon import conf as mlnconf
from daemon.cluster import heartbeat, signing
from projects.cli.cluster import status_row

# The index gets a "Service host daemons" link; the page itself has no model behind it.
admin.site.index_template = "daemon/admin_index.html"


def daemon_status(request):
    conf = mlnconf.load()
    statuses = heartbeat.statuses(django_rq.get_connection("default"), [conf.service_host, *conf.daemon_status_query])
    rows = [{**status_row(s), **queue_row(s.service_host)} for s in statuses]
    context = {
        **admin.site.each_context(request),
        "title": "Service host daemons and their queues",
        "rows": rows,
        "columns": list(rows[0]) if rows else [],
    }
    return TemplateResponse(request, "daemon/admin_daemons.html", context)


def queue_row(service_host):
    """The queue `mln.<service host>`: jobs waiting, running, failed. (django-rq's dashboard lists only
    settings.RQ_QUEUES; these queues are named at run time, so this page shows them.)"""
    queue = signing.queue(service_host)
    return {
        "queue": queue.name,
        "waiting": queue.count,
        "running": queue.started_job_registry.count,
        "failed": queue.failed_job_registry.count,
    }
