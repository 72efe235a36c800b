"""Daemons on one machine: heartbeats, `mln daemon_status`, and jobs for a daemon that is dead."""

import json
import time
from datetime import timedelta

from daemon.cluster import builds, dispatch, heartbeat, signing
from projects.choices import Action, BuildStatus
from projects.cli import main
from projects.models import Build
from tests.factories import make_project, one_host


def project_on(service_host, name="solo"):
    return make_project(one_host(name, service_host=service_host), rows=False)


def status_rows(capsys):
    capsys.readouterr()
    assert main(["daemon_status", "--json"]) == 0
    return {row["service_host"]: row for row in json.loads(capsys.readouterr().out)}


def test_daemon_status_shows_each_daemon_and_a_killed_one_ages_out(cluster, capsys):
    a, b = cluster.start("alpha"), cluster.start("beta")
    ghost = cluster.name("ghost")
    (cluster.root / "submitter.conf").open("a").write(f"daemon_status_query {ghost}\n")
    rows = status_rows(capsys)
    assert rows[a]["alive"] == rows[b]["alive"] == "yes"
    assert rows[a]["hypervisor"] == "TEST" and rows[a]["libvirt_uri"] == "test:///default"
    assert rows[a]["cpus"] and rows[a]["guest_memory"] == "8192M" and rows[a]["kvm"] == "no"
    assert rows[ghost] == {**rows[ghost], "alive": "no", "last_heartbeat": "never"}
    cluster.kill(b)
    time.sleep(2.0)  # past the 1.5 s TTL
    rows = status_rows(capsys)
    assert rows[a]["alive"] == "yes" and rows[b]["alive"] == "no"
    assert float(rows[b]["last_heartbeat"].split()[0]) >= 1.5


def test_a_job_for_a_dead_daemon_fails_in_bounded_time_naming_it(cluster, templates):
    a = cluster.start("alpha")
    dead = cluster.name("dead")
    project = project_on(dead)
    started = time.monotonic()
    builds = dispatch.submit(project, Action.BUILD, cluster.conf, service_hosts=[a, dead])
    waited = time.monotonic() - started
    assert 2 <= waited < 4
    assert [b.status for b in builds] == [BuildStatus.FAILED] * 2  # neither half was enqueued
    assert f"service host {dead} has no live daemon" in builds[0].error and "nothing was built" in builds[0].error
    assert signing.queue(a).count == 0 and signing.queue(dead).count == 0


def test_a_queued_job_whose_daemon_died_is_failed_by_a_live_daemon(cluster, templates):
    cluster.start("alpha")
    gone = cluster.start("gone")
    cluster.kill(gone)
    project = project_on(gone)
    build = builds.submit(project, Action.BUILD, gone)
    build.enqueue(cluster.conf)
    Build.objects.filter(pk=build.pk).update(created_at=build.created_at - timedelta(seconds=10))
    deadline = time.monotonic() + 10
    while build.status == BuildStatus.QUEUED and time.monotonic() < deadline:
        time.sleep(0.2)  # alpha's heartbeat sweeps once gone's heartbeat has expired
        build.refresh_from_db()
    assert build.status == BuildStatus.FAILED
    assert f"service host {gone} has no live daemon" in build.error
    assert signing.queue(gone).count == 0
    assert not heartbeat.is_alive(cluster.redis, gone)


def test_mln_build_for_a_service_host_without_a_daemon_ends_with_its_name(cluster, templates, tmp_path, capsys):
    path = tmp_path / "far.mln"
    path.write_text("global { project far }\nhost h {\n    template tiny\n    service_host nowhere\n}\n")
    started = time.monotonic()
    assert main(["build", "-f", str(path)]) == 1
    assert time.monotonic() - started < 30  # daemon_wait is 2 s here: it waits, then gives up
    err = capsys.readouterr().err
    assert "service host nowhere has no live daemon" in err and "nothing was built" in err
    assert Build.objects.get(project__name="far").status == BuildStatus.FAILED
