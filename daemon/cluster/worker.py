"""`mln daemon`: an RQ worker on this service host's queue, and its heartbeat.

The worker is RQ's own, given a job class that runs nothing but
`daemon.cluster.runner.run_signed` (which checks the envelope) and ignores the
callbacks and webhooks a job hash may name: whoever can write to Redis could
otherwise have the worker import and call any function, or fetch any URL.
Jobs are read with RQ's JSONSerializer, never pickle (see daemon/cluster/signing.py).

A daemon runs `jobs_in_parallel` (mln.conf) workers on its queue, in a pool of
processes, so a course's groups start side by side. One project's jobs still
run one at a time on one service host, in the order they were submitted: a job
first waits for the earlier Builds of its project there that no worker has
claimed yet, then takes the project's Redis lock (`project_turn`).
"""

import contextlib
import logging
import threading
import time

from django.db import close_old_connections, connections
from redis import ConnectionPool
from redis.exceptions import LockError, RedisError
from rq import SimpleWorker, Worker
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.worker_pool import ForkProcess, WorkerPool

from daemon.agent.hypervisor import Hypervisor, HypervisorError
from daemon.cluster import dispatch, heartbeat, runner, signing
from daemon.cluster.builds import Build
from projects.choices import BuildStatus

log = logging.getLogger(__name__)


class ClusterJob(Job):
    """A job as a daemon runs it: signed envelopes only, no callbacks, no webhooks.

    It runs `runner.run_signed` itself, with its worker's mln.conf, and never
    imports the function a job hash names: whoever can write to Redis could
    otherwise have the worker import and call anything.
    """

    mln_conf = None  # set by the worker that runs it
    in_pool = False  # run by one of a pool of workers: other jobs of its queue may run meanwhile

    def _execute(self):
        if self.func_name != signing.ENTRY_POINT:
            self._refuse_unsigned()
        turn = project_turn(self.connection, self.args, self.mln_conf, self.origin) if self.in_pool else nothing()
        with turn:
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
    in_pool = False

    def perform_job(self, job, queue):
        job.mln_conf, job.in_pool = self.mln_conf, self.in_pool
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


# --- one project at a time ------------------------------------------------------------------

TURN = "mln:project-turn:{}:{}"  # service host, project id
TURN_TTL = 30  # seconds a dead job's lock outlives it; a live job renews it every TURN_TTL / 3
ORDER_WAIT = 30  # seconds a job waits for earlier, unclaimed Builds of its project (then goes on)
POLL = 0.2


nothing = contextlib.nullcontext  # a worker alone on its queue runs its jobs one at a time, in order


@contextlib.contextmanager
def project_turn(redis, args, conf, queue):
    """Runs the body when no other job of the same project runs on this service host.

    The envelope is verified here only to find the project; `runner.run_signed`
    verifies it again and refuses it with the reason. Earlier Builds of the
    project that are still queued go first (two workers may dequeue them a
    moment apart); that wait is bounded, so a job whose predecessor Redis lost
    cannot hold a worker forever.
    """
    envelope = args[0] if isinstance(args, (list, tuple)) and args else None
    try:
        build_id = signing.verify(envelope, conf, queue)
    except signing.JobRefused:
        build_id = None  # run_signed refuses it, and says why
    build = Build.objects.filter(pk=build_id).values("project_id", "service_host").first() if build_id else None
    if build is None:
        yield
        return
    wait_for_earlier(build_id, build["project_id"], build["service_host"])
    lock = redis.lock(TURN.format(build["service_host"], build["project_id"]), timeout=TURN_TTL, sleep=POLL)
    lock.acquire(blocking=True)
    renewing = threading.Event()
    renewer = threading.Thread(target=renew, args=(lock, renewing), name="mln-project-turn", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        renewing.set()
        renewer.join()
        with contextlib.suppress(LockError):
            lock.release()


def wait_for_earlier(build_id, project_id, service_host):
    earlier = Build.objects.filter(
        project_id=project_id, service_host=service_host, status=BuildStatus.QUEUED, pk__lt=build_id
    )
    deadline = time.monotonic() + ORDER_WAIT
    while earlier.exists() and time.monotonic() < deadline:
        time.sleep(POLL)


def renew(lock, stopping):
    """Keeps the project's lock while the job runs; a job whose process dies lets it go within TURN_TTL."""
    while not stopping.wait(TURN_TTL / 3):
        try:
            lock.reacquire()
        except (LockError, RedisError, OSError) as exc:
            log.warning("project lock %s: %s", lock.name, exc)


# --- the pool ----------------------------------------------------------------------------------


class ClusterWorkerPool(WorkerPool):
    """RQ's pool of worker processes, each made by `worker_for` with this daemon's mln.conf."""

    def __init__(self, conf, connection):
        super().__init__(
            [conf.queue_name],
            connection=connection,
            num_workers=conf.jobs_in_parallel,
            worker_class=ClusterWorker,
            serializer=JSONSerializer,
            job_class=ClusterJob,
        )
        self.mln_conf = conf

    def get_worker_process(self, name, burst, _sleep=0, logging_level="INFO"):
        return ForkProcess(
            target=run_pool_worker,
            args=(self.mln_conf, self._connection_class, self._pool_class, self._pool_kwargs, burst),
            name=f"mln worker {name}",
        )


def pool_for(conf, connection):
    return ClusterWorkerPool(conf, connection)


def run_pool_worker(conf, connection_class, pool_class, pool_kwargs, burst):
    connection = connection_class(connection_pool=ConnectionPool(connection_class=pool_class, **pool_kwargs))
    worker = worker_for(conf, connection)
    worker.in_pool = True
    worker.work(burst=burst, with_scheduler=False)


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
    """Runs the workers until they are stopped (SIGTERM, SIGINT); the heartbeat goes with them.

    On libvirt's test driver the guests live in this process, so its jobs run
    here, one at a time; elsewhere a pool of `jobs_in_parallel` worker processes.
    """
    beat = Heartbeat(conf, connection)
    beat.start()
    try:
        if conf.libvirt_uri.startswith("test:") or conf.jobs_in_parallel == 1:
            worker_for(conf, connection).work(burst=burst, with_scheduler=False)
        else:
            connections.close_all()  # the pool forks: no child shares this process's database connection
            pool_for(conf, connection).start(burst=burst)
    finally:
        beat.stop()
