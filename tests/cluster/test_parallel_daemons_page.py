"""The admin's daemons page and django-rq's dashboard show the daemons' queues and workers.

`running` is the guests a daemon's heartbeat counts; the queue's jobs are
columns of their own. The RQ dashboard lists every `mln.<service host>` queue
(mlnweb/rq_queues.py), each with a link from the daemons page.
"""

import html
import re

from daemon.cluster import builds, heartbeat
from daemon.conf import MlnConf
from projects.choices import Action
from tests.factories import make_project, one_host, superuser


def table_of(page):
    """The daemons page's table: one dict per row, by column header."""
    headers = re.findall(r"<th>(.*?)</th>", page)
    rows = re.findall(r"<tr>(<td>.*?)</tr>", page, flags=re.DOTALL)
    return [dict(zip(headers, re.findall(r"<td>(.*?)</td>", row), strict=False)) for row in rows]


def test_running_guests_come_from_the_heartbeat_and_jobs_have_their_own_columns(cluster, client):
    alive = cluster.start("alpha")
    busy = cluster.name("busy")
    cluster.names.append(busy)  # stop_all removes its heartbeat and queue
    facts = {"running_domains": 9, "hypervisor": "QEMU"}  # what a daemon with nine guests says
    heartbeat.publish(cluster.redis, MlnConf(path="", service_host=busy, heartbeat_ttl=60), facts)
    project = make_project(one_host(f"waits{cluster.tag}", service_host=busy), rows=False)
    for _ in range(2):
        builds.submit(project, Action.START, busy).enqueue(cluster.conf)  # no daemon takes them

    client.force_login(superuser("admin"))
    page = client.get("/admin/daemons/").content.decode()
    rows = {row["service_host"]: row for row in table_of(page)}
    assert rows[busy]["running"] == "9"  # the guests, not a count of jobs
    assert (rows[busy]["jobs_waiting"], rows[busy]["jobs_running"], rows[busy]["workers"]) == ("2", "0", "0")
    assert rows[alive]["workers"] == "1" and rows[alive]["jobs_in_parallel"] == "1"  # the test driver: one

    links = dict(re.findall(r'<a href="(/admin/rq/queues/\d+/)">jobs of (mln\.[^<]+)</a>', page))
    assert set(links.values()) >= {f"mln.{alive}", f"mln.{busy}"}
    dashboard = client.get("/admin/rq/").content.decode()
    assert f"mln.{alive}" in dashboard and f"mln.{busy}" in dashboard
    busy_link = next(link for link, name in links.items() if name == f"mln.{busy}")
    jobs = html.unescape(client.get(busy_link).content.decode())
    assert f"mln.{busy}" in jobs and "build-" in jobs  # the two waiting jobs, read as JSON


def test_the_rq_dashboard_lists_a_daemons_workers(cluster, client):
    alive = cluster.start("alpha")
    client.force_login(superuser("admin"))
    page = client.get("/admin/daemons/").content.decode()
    link = re.search(rf'<a href="/admin/rq/queues/(\d+)/">jobs of mln\.{alive}</a>', page)
    workers = client.get(f"/admin/rq/workers/{link[1]}/").content.decode()
    assert f"mln.{alive}" in workers and "idle" in workers.lower()
