"""Signed jobs: what a daemon runs is what a holder of the cluster secret asked for.

Every job on a `mln.<service_host>` queue is `run_signed(envelope)`, where the
envelope names the function (only `daemon.cluster.runner.run`), its arguments, the
Build, the service host it is for, the submitter's address and the time, and
carries an HMAC-SHA256 of all of that under the cluster's shared secret. The
daemon's worker (daemon/cluster/worker.py) runs nothing but
`daemon.cluster.runner.run_signed`, which refuses an envelope whose signature does not match,
that was moved to another host's queue, or whose submitter `daemon_allow`
does not admit. A refused job fails its Build with the reason, and is logged.

Queues use RQ's JSONSerializer: with RQ's default (pickle), merely loading a
job someone wrote into Redis runs their code, before any signature is read.
See the README's "Cluster security" for what this protects and what it does not.
"""

import contextlib
import fnmatch
import hashlib
import hmac
import json
import time

import django_rq
from django.conf import settings
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from daemon.conf import MlnConf, queue_name

ENTRY_POINT = "daemon.cluster.runner.run_signed"
FUNCTIONS = {"daemon.cluster.runner.run"}  # what an envelope may name
JOB_TIMEOUT = 3600


class JobRefused(Exception):
    """A job this daemon will not run; the message says why, for the Build and the log."""


def secret(conf):
    """mln.conf's `cluster_secret`; else a key derived from Django's SECRET_KEY.

    Derived, not SECRET_KEY itself: a job signature can then never double as
    a session or form signature, and a cluster that sets `cluster_secret` does
    not have to hand the web site's key to every hypervisor host.
    """
    if conf.cluster_secret:
        return conf.cluster_secret.encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"mln cluster jobs", hashlib.sha256).digest()


def canonical(envelope):
    body = {k: v for k, v in envelope.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def signature(envelope, key):
    return hmac.new(key, canonical(envelope), hashlib.sha256).hexdigest()


def seal(build_id, service_host, conf, submitter=None, function="daemon.cluster.runner.run"):
    envelope = {
        "function": function,
        "args": [build_id],
        "build": build_id,
        "service_host": service_host,
        "submitter": submitter or submitter_address(),
        "time": time.time(),
    }
    envelope["signature"] = signature(envelope, secret(conf))
    return envelope


_address = None


def submitter_address():
    """This process's address as Redis sees it: what the daemons' `daemon_allow` is checked against."""
    global _address  # asked of Redis once per process: the address does not change
    if _address is None:
        addr = django_rq.get_connection("default").client_info()["addr"]
        _address = addr.rsplit(":", 1)[0].strip("[]")
    return _address


def queue(service_host):
    # One queue per service host, named at run time: not one of settings.RQ_QUEUES.
    return Queue(queue_name(service_host), connection=django_rq.get_connection("default"), serializer=JSONSerializer)


def job_id(build_id):
    return f"build-{build_id}"


def enqueue(build_id: int, service_host: str, conf: MlnConf, depends_on: str | None = None) -> None:
    """Puts a Build's signed job on its service host's queue; `depends_on`: a job it waits for (a chain)."""
    envelope = seal(build_id, service_host, conf)
    queue(service_host).enqueue(
        ENTRY_POINT, envelope, job_id=job_id(build_id), job_timeout=JOB_TIMEOUT, depends_on=depends_on
    )


def cancel(build_id):
    """Takes a deferred (or queued) job out of RQ, so that its dependency finishing enqueues nothing."""
    # Never enqueued (the command line's own host), or already gone: nothing to cancel.
    with contextlib.suppress(NoSuchJobError, InvalidJobOperation):
        Job.fetch(job_id(build_id), connection=django_rq.get_connection("default"), serializer=JSONSerializer).cancel()


def verify(envelope: dict, conf: MlnConf, queue: str) -> int:
    """The Build id of an envelope this daemon may run; JobRefused otherwise."""
    if not isinstance(envelope, dict) or "signature" not in envelope:
        raise JobRefused("unsigned job")
    if not hmac.compare_digest(str(envelope["signature"]), signature(envelope, secret(conf))):
        raise JobRefused("bad signature: the job was tampered with, or signed with another cluster secret")
    if envelope.get("function") not in FUNCTIONS or envelope.get("args") != [envelope.get("build")]:
        raise JobRefused(f"function {envelope.get('function')!r} is not one a daemon runs")
    if queue != queue_name(envelope.get("service_host")):
        raise JobRefused(f"signed for service host {envelope.get('service_host')}, found on queue {queue}")
    submitter = str(envelope.get("submitter"))
    if not admitted(submitter, conf.daemon_allow):
        raise JobRefused(f"submitter {submitter} is not admitted by daemon_allow ({' '.join(conf.daemon_allow)})")
    return envelope["build"]


def admitted(address, patterns):
    return any(fnmatch.fnmatchcase(address, pattern) for pattern in patterns)
