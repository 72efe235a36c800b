"""Signed jobs: what a daemon runs is what a holder of the cluster secret asked for.

Every job on a `mln.<service_host>` queue is `run_signed(envelope)`, where the
envelope names the function (only `daemon.jobs.run`), its arguments, the
Build, the service host it is for, the submitter's address and the time, and
carries an HMAC-SHA256 of all of that under the cluster's shared secret. The
daemon's worker (daemon/cluster/worker.py) refuses any other function before it is
imported; `run_signed` refuses an envelope whose signature does not match,
that was moved to another host's queue, or whose submitter `daemon_allow`
does not admit. A refused job fails its Build with the reason, and is logged.

Queues use RQ's JSONSerializer: with RQ's default (pickle), merely loading a
job someone wrote into Redis runs their code, before any signature is read.
See the README's "Cluster security" for what this protects and what it does not.
"""

import fnmatch
import hashlib
import hmac
import json
import logging
import time

from django.utils import timezone

log = logging.getLogger(__name__)

ENTRY_POINT = "daemon.cluster.signing.run_signed"
FUNCTIONS = {"daemon.jobs.run"}  # what an envelope may name
JOB_TIMEOUT = 3600


class Refused(Exception):
    """A job this daemon will not run; the message says why, for the Build and the log."""


def secret(conf):
    """mln.conf's `cluster_secret`; else a key derived from Django's SECRET_KEY.

    Derived, not SECRET_KEY itself: a job signature can then never double as
    a session or form signature, and a cluster that sets `cluster_secret` does
    not have to hand the web site's key to every hypervisor host.
    """
    if conf.cluster_secret:
        return conf.cluster_secret.encode()
    from django.conf import settings

    return hmac.new(settings.SECRET_KEY.encode(), b"mln cluster jobs", hashlib.sha256).digest()


def canonical(envelope):
    body = {k: v for k, v in envelope.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def signature(envelope, key):
    return hmac.new(key, canonical(envelope), hashlib.sha256).hexdigest()


def seal(build_id, service_host, conf, submitter=None, function="daemon.jobs.run"):
    envelope = {"function": function, "args": [build_id], "build": build_id, "service_host": service_host,
                "submitter": submitter or submitter_address(), "time": time.time()}
    envelope["signature"] = signature(envelope, secret(conf))
    return envelope


_address = None


def submitter_address():
    """This process's address as Redis sees it: what the daemons' `daemon_allow` is checked against."""
    global _address
    if _address is None:
        import django_rq

        addr = django_rq.get_connection("default").client_info()["addr"]
        _address = addr.rsplit(":", 1)[0].strip("[]")
    return _address


def queue(service_host):
    import django_rq
    from rq import Queue
    from rq.serializers import JSONSerializer

    # One queue per service host, named at run time: not one of settings.RQ_QUEUES.
    return Queue(f"mln.{service_host}", connection=django_rq.get_connection("default"), serializer=JSONSerializer)


def job_id(build_id):
    return f"build-{build_id}"


def enqueue(build, conf=None, depends_on=None):
    """Puts the Build's signed job on its service host's queue; `depends_on`: a job it waits for (daemon/cluster/chains.py)."""
    from daemon import conf as mlnconf

    conf = conf or mlnconf.load()
    envelope = seal(build.pk, build.service_host, conf)
    queue(build.service_host).enqueue(ENTRY_POINT, envelope, job_id=job_id(build.pk), job_timeout=JOB_TIMEOUT,
                                      depends_on=depends_on)


# --- the daemon's side ----------------------------------------------------------------


def verify(envelope, conf, queue_name):
    """The Build id of an envelope this daemon may run; Refused otherwise."""
    if not isinstance(envelope, dict) or "signature" not in envelope:
        raise Refused("unsigned job")
    if not hmac.compare_digest(str(envelope["signature"]), signature(envelope, secret(conf))):
        raise Refused("bad signature: the job was tampered with, or signed with another cluster secret")
    if envelope.get("function") not in FUNCTIONS or envelope.get("args") != [envelope.get("build")]:
        raise Refused(f"function {envelope.get('function')!r} is not one a daemon runs")
    if queue_name != f"mln.{envelope.get('service_host')}":
        raise Refused(f"signed for service host {envelope.get('service_host')}, found on queue {queue_name}")
    submitter = str(envelope.get("submitter"))
    if not admitted(submitter, conf.daemon_allow):
        raise Refused(f"submitter {submitter} is not admitted by daemon_allow ({' '.join(conf.daemon_allow)})")
    return envelope["build"]


def admitted(address, patterns):
    return any(fnmatch.fnmatchcase(address, pattern) for pattern in patterns)


def run_signed(envelope):
    """What RQ calls: verify, claim the Build, run it."""
    from rq import get_current_job

    from daemon import conf as mlnconf
    from daemon import jobs

    conf = jobs.DAEMON_CONF or mlnconf.load()
    job = get_current_job()
    try:
        build_id = verify(envelope, conf, job.origin if job else "")
    except Refused as exc:
        refuse(envelope, str(exc), conf)
        raise
    if not claim(build_id):
        # Already run, or failed by the wait for a dead daemon: a replayed job does nothing.
        log.warning("build %s is not queued any more: job %s ignored", build_id, job and job.id)
        return None
    return jobs.run(build_id, conf=conf).status


def claim(build_id):
    from projects.choices import BuildStatus
    from projects.models import Build

    # Claim atomically: of two deliveries of the same job, one gets the row.
    return Build.objects.filter(pk=build_id, status=BuildStatus.QUEUED).update(
        status=BuildStatus.RUNNING, started_at=timezone.now()) == 1


def refuse(envelope, reason, conf):
    """Logs the refusal and fails the Build it names, if that Build is still waiting."""
    build_id = envelope.get("build") if isinstance(envelope, dict) else envelope
    log.warning("service host %s refused a job (build %r): %s", conf.service_host, build_id, reason)
    if isinstance(build_id, int) and not isinstance(build_id, bool):
        fail_queued(build_id, f"refused by the daemon of {conf.service_host}: {reason}")


def fail_queued(build_id, reason, cascade=True):
    """Fails a Build that no daemon has started, and the rest of its chain; False when one has (or it is gone)."""
    from projects.choices import BuildStatus, EventLevel
    from projects.models import Build

    updated = Build.objects.filter(pk=build_id, status=BuildStatus.QUEUED).update(
        status=BuildStatus.FAILED, finished_at=timezone.now(), error=reason)
    if updated:
        build = Build.objects.get(pk=build_id)
        build.log_event("failed", reason, level=EventLevel.ERROR)
        if cascade:
            from daemon.cluster import chains

            chains.fail_later(build, reason)
    return bool(updated)
