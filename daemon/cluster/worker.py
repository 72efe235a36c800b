"""`mln daemon`: an RQ worker on this service host's queue, and its heartbeat.

The worker is RQ's own, given a job class that runs nothing but
`daemon.cluster.runner.run_signed` (which checks the envelope) and ignores the
callbacks and webhooks a job hash may name: whoever can write to Redis could
otherwise have the worker import and call any function, or fetch any URL.
Jobs are read with RQ's JSONSerializer, never pickle (see daemon/cluster/signing.py).
"""

import logging
import threading

from django.db import close_old_connections
from rq import SimpleWorker, Worker
from rq.job import Job
from rq.serializers import JSONSerializer

from daemon.agent.hypervisor import Hypervisor, HypervisorError
from daemon.cluster import dispatch, heartbeat, runner, signing

log = logging.getLogger(__name__)


class ClusterJob(Job):
    """A job as a daemon runs it: signed envelopes only, no callbacks, no webhooks.

    It runs `runner.run_signed` itself, with its worker's mln.conf, and never
    imports the function a job hash names: whoever can write to Redis could
    otherwise have the worker import and call anything.
    """

    mln_conf = None  # set by the worker that runs it

    def _execute(self):
        if self.func_name != signing.ENTRY_POINT:
            self._refuse_unsigned()
        return runner.run_signed(*self.args, conf=self.mln_conf)

    def _refuse_unsigned(self):
        args = self.args if isinstance(self.args, (list, tuple)) else []
        named = args[0] if args else None
        reason = f"unsigned job: {self.func_name!r} is not run by this daemon"
        runner.refuse(named if isinstance(named, (int, dict)) else None, reason, self.mln_conf)
        raise signing.JobRefused(reason)

    @property
    def success_callback(self):
        return None

    @property
    def failure_callback(self):
        return None

    @property
    def stopped_callback(self):
        return None

    def send_webhooks(self, *args, **kwargs):
        return None


class ConfiguredWorker:
    """Hands its mln.conf to every job it runs: the conf travels as an argument, not a global."""

    mln_conf = None

    def perform_job(self, job, queue):
        job.mln_conf = self.mln_conf
        return super().perform_job(job, queue)


class ClusterWorker(ConfiguredWorker, Worker):
    job_class = ClusterJob


class ClusterSimpleWorker(ConfiguredWorker, SimpleWorker):
    """For libvirt's test driver, whose guests live in the process: no fork per job."""

    job_class = ClusterJob


def worker_for(conf, connection, queue_names=None):
    worker_class = ClusterSimpleWorker if conf.libvirt_uri.startswith("test:") else ClusterWorker
    worker = worker_class(
        queue_names or [conf.queue_name], connection=connection, serializer=JSONSerializer, job_class=ClusterJob
    )
    worker.mln_conf = conf
    return worker


class Heartbeat(threading.Thread):
    """Publishes this daemon's facts, and fails jobs that wait too long for a dead daemon.

    It holds a libvirt connection for the daemon's whole life: on the test
    driver that connection is also what keeps the guests between jobs.
    """

    def __init__(self, conf, connection):
        super().__init__(name="mln-heartbeat", daemon=True)
        self.conf, self.connection = conf, connection
        self.stopping = threading.Event()

    def run(self):
        with Hypervisor(self.conf.libvirt_uri) as hypervisor:
            while True:
                try:
                    heartbeat.publish(self.connection, self.conf, heartbeat.facts(self.conf, hypervisor))
                    dispatch.sweep(self.connection, self.conf)
                except (HypervisorError, OSError, ConnectionError) as exc:
                    log.warning("heartbeat: %s", exc)
                except Exception:  # the heartbeat must outlive a bug in one beat
                    log.exception("heartbeat failed")
                finally:
                    close_old_connections()
                if self.stopping.wait(self.conf.heartbeat_interval):
                    return

    def stop(self):
        self.stopping.set()
        self.join(timeout=self.conf.heartbeat_interval + 5)
        heartbeat.withdraw(self.connection, self.conf.service_host)


def serve(conf, connection, burst=False):
    """Runs the worker until it is stopped (SIGTERM, SIGINT); the heartbeat goes with it."""
    beat = Heartbeat(conf, connection)
    beat.start()
    try:
        worker_for(conf, connection).work(burst=burst, with_scheduler=False)
    finally:
        beat.stop()
