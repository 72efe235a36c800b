"""Builds sent to the daemons of a cluster: all of a request's daemons alive, or no job at all.

`submit` makes one Build per service host a project's (placed) spec names,
waits at most `daemon_wait` seconds for every one of those daemons to be
alive, and only then enqueues their signed jobs: a project is never half
built because one of its daemons is down. When one stays down, every Build
of the request fails with a message naming it, and nothing is enqueued.

A daemon may also die after its jobs were queued. `sweep`, run by every live
daemon with its heartbeat (and by the command line while it follows a
build), fails the Builds that have waited longer than `daemon_wait` for a
daemon that is not alive, and takes their jobs off that daemon's queue.
"""

import time
from datetime import timedelta

import django_rq
from django.db import transaction
from django.utils import timezone

from daemon.cluster import builds, heartbeat, signing
from daemon.cluster.builds import Build
from daemon.conf import MlnConf
from projects.choices import BuildStatus
from projects.lang.spec import ProjectSpec

POLL_SECONDS = 0.2


class DaemonDown(Exception):
    """A service host has no live daemon; the message names it."""


def connection():
    return django_rq.get_connection("default")


def service_hosts_of(spec: ProjectSpec, default: str) -> list[str]:
    return sorted({h.service_host or default for h in spec.hosts.values()} or {default})


def down_message(service_host, status, waited):
    if status is None or status.age is None:
        heard = "no daemon has ever sent a heartbeat"
    else:
        heard = f"last heartbeat {status.age:.0f} s ago"
    return f"service host {service_host} has no live daemon ({heard}); waited {waited:.0f} s, nothing was built"


def down_reason(missing, waited, redis):
    known = {s.service_host: s for s in heartbeat.statuses(redis, missing)}
    return "; ".join(down_message(s, known.get(s), waited) for s in missing)


def wait_for(service_hosts: list[str], seconds: float, redis=None) -> list[str]:
    """The service hosts still without a live daemon after waiting at most `seconds`."""
    redis = redis or connection()
    deadline = time.monotonic() + seconds
    while True:
        missing = [s for s in service_hosts if not heartbeat.is_alive(redis, s)]
        if not missing or time.monotonic() >= deadline:
            return missing
        time.sleep(POLL_SECONDS)


def submit(project, action, conf, service_hosts=None, host_name="", options=None, requested_by=None, wait=None):
    """One queued Build per service host; their jobs enqueued once every daemon is alive.

    Returns the Builds; when a daemon stays down they are all failed, naming it.
    """
    redis = connection()
    service_hosts = service_hosts or service_hosts_of(ProjectSpec.from_dict(project.spec), conf.service_host)
    with transaction.atomic():
        made = [
            builds.submit(
                project,
                action,
                s,
                default_service_host=conf.service_host,
                host_name=host_name,
                options=options,
                requested_by=requested_by,
            )
            for s in service_hosts
        ]
    waited = conf.daemon_wait if wait is None else wait
    missing = wait_for(service_hosts, waited, redis)
    if missing:
        reason = down_reason(missing, waited, redis)
        for build in made:
            builds.fail_queued(build.pk, reason)
            build.refresh_from_db()
        return made
    for build in made:
        build.enqueue(conf)
    return made


def sweep(redis, conf):
    """Fails queued Builds whose daemon has been down longer than `daemon_wait`; returns how many."""
    cutoff = timezone.now() - timedelta(seconds=conf.daemon_wait)
    waiting = Build.objects.filter(status=BuildStatus.QUEUED, created_at__lt=cutoff).only("pk", "service_host", "after")
    failed = 0
    for build in waiting:
        service_host = build.service_host
        if not turn_came(build, cutoff):
            continue  # the step before it in its chain has not ended long enough ago: it waits for that
        if heartbeat.is_alive(redis, service_host):
            continue  # alive, merely busy: its job will come
        status = next(iter(heartbeat.statuses(redis, [service_host])), None)
        # Its job off the queue first: once the Build reads failed, nothing of it is left to run.
        signing.queue(service_host).remove(signing.job_id(build.pk))
        failed += builds.fail_queued(build.pk, down_message(service_host, status, conf.daemon_wait))
    return failed


def turn_came(build, cutoff):
    """A Build of a chain (daemon/cluster/chains.py) is due when the one before it ended, not when it was made."""
    before = build.after
    if before is None:
        return True
    if before.status == BuildStatus.FAILED:  # failed without failing the rest (interrupted): fail them now
        builds.fail_rest_of_chain(before, before.error)
        return False
    return before.status == BuildStatus.SUCCEEDED and before.finished_at < cutoff


def follow(followed: list[Build], conf: MlnConf, poll: float = 0.25, on_event=None) -> list[Build]:
    """Waits until every Build has ended, sweeping for dead daemons meanwhile; returns them fresh."""
    redis, seen = connection(), {b.pk: 0 for b in followed}
    while True:
        ended = 0
        for build in followed:
            build.refresh_from_db()
            if on_event:
                for event in build.events.filter(seq__gt=seen[build.pk]).order_by("seq"):
                    on_event(event)
                    seen[build.pk] = event.seq
            ended += build.status in (BuildStatus.SUCCEEDED, BuildStatus.FAILED)
        if ended == len(followed):
            return followed
        sweep(redis, conf)
        time.sleep(poll)
