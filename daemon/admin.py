"""The daemons' page in the admin: `mln daemon_status` for staff, linked from the admin index."""

import django_rq
from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import reverse
from django_rq.settings import get_queues_map
from rq import Worker

from daemon import conf as mlnconf
from daemon.cluster import heartbeat, signing
from projects.cli.cluster import status_row

# The index gets a "Service host daemons" link; the page itself has no model behind it.
admin.site.index_template = "daemon/admin_index.html"


def daemon_status(request):
    conf = mlnconf.load()
    statuses = heartbeat.statuses(django_rq.get_connection("default"), [conf.service_host, *conf.daemon_status_query])
    queues = get_queues_map()  # django-rq's dashboard numbers its queues (mlnweb/rq_queues.py)
    rows = [{**status_row(s), **queue_row(s)} for s in statuses]
    links = [dashboard_link(queues, row["queue"]) for row in rows]
    context = {
        **admin.site.each_context(request),
        "title": "Service host daemons and their queues",
        "rows": [(row, link) for row, link in zip(rows, links, strict=True)],
        "columns": list(rows[0]) if rows else [],
    }
    return TemplateResponse(request, "daemon/admin_daemons.html", context)


def queue_row(status):
    """The queue `mln.<service host>`: its workers and jobs. `running` (guests, from the heartbeat)
    is another column: a count of jobs never stands for it."""
    queue = signing.queue(status.service_host)
    return {
        "jobs_in_parallel": status.facts.get("jobs_in_parallel", ""),
        "queue": queue.name,
        "workers": Worker.count(queue=queue),
        "jobs_waiting": queue.count,
        "jobs_running": queue.started_job_registry.count,
        "jobs_failed": queue.failed_job_registry.count,
    }


def dashboard_link(queues, name):
    return reverse("django_rq:jobs", args=[queues[name]]) if name in queues else ""
