"""A daemon runs signed jobs only: what an attacker who can write to Redis pushes is refused and logged."""

import time

import pytest

from daemon.cluster import builds, signing
from projects.choices import Action, BuildStatus

from .test_daemons import project_on


def queued(project, service_host):
    return builds.submit(project, Action.BUILD, service_host)


def wait_ended(build, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        build.refresh_from_db()
        if build.status in (BuildStatus.SUCCEEDED, BuildStatus.FAILED):
            return build
        time.sleep(0.1)
    raise AssertionError(f"build {build.pk} still {build.status}")


@pytest.fixture
def daemon(cluster, templates):
    return cluster.start("alpha")


def test_a_signed_job_runs(cluster, daemon):
    build = queued(project_on(daemon), daemon)
    build.enqueue(cluster.conf)
    assert wait_ended(build).status == BuildStatus.SUCCEEDED, build.error


def test_an_unsigned_job_is_refused_and_its_build_failed(cluster, daemon):
    build = queued(project_on(daemon), daemon)
    signing.queue(daemon).enqueue("daemon.cluster.runner.run", build.pk)  # what RQ would run, were it not refused
    assert wait_ended(build).status == BuildStatus.FAILED
    assert build.error.startswith(f"refused by the daemon of {daemon}: unsigned job")
    assert not build.project.hosts.exists()
    assert "refused a job" in cluster.log(daemon)


def test_a_tampered_job_is_refused(cluster, daemon):
    project = project_on(daemon)
    build = queued(project, daemon)
    envelope = signing.seal(build.pk, daemon, cluster.conf)
    envelope["submitter"] = "192.168.10.7"  # dressed up as an admitted address
    signing.queue(daemon).enqueue(signing.ENTRY_POINT, envelope)
    assert wait_ended(build).status == BuildStatus.FAILED
    assert "bad signature" in build.error


def test_a_job_signed_with_another_secret_is_refused(cluster, daemon):
    build = queued(project_on(daemon), daemon)
    other = cluster.conf.__class__(**{**cluster.conf.__dict__, "cluster_secret": "guessed"})
    signing.queue(daemon).enqueue(signing.ENTRY_POINT, signing.seal(build.pk, daemon, other))
    assert wait_ended(build).status == BuildStatus.FAILED and "bad signature" in build.error


def test_a_job_from_an_address_daemon_allow_does_not_admit_is_refused(cluster, daemon):
    build = queued(project_on(daemon), daemon)
    signing.queue(daemon).enqueue(
        signing.ENTRY_POINT, signing.seal(build.pk, daemon, cluster.conf, submitter="10.9.8.7")
    )
    assert wait_ended(build).status == BuildStatus.FAILED
    assert "submitter 10.9.8.7 is not admitted by daemon_allow (127.0.0.1 192.168.10.*)" in build.error


def test_a_job_moved_to_another_hosts_queue_is_refused(cluster, daemon):
    build = queued(project_on(daemon), daemon)
    signing.queue(daemon).enqueue(signing.ENTRY_POINT, signing.seal(build.pk, "elsewhere", cluster.conf))
    assert wait_ended(build).status == BuildStatus.FAILED and "found on queue" in build.error


def test_a_replayed_job_does_nothing(cluster, daemon):
    build = queued(project_on(daemon), daemon)
    envelope = signing.seal(build.pk, daemon, cluster.conf)
    signing.queue(daemon).enqueue(signing.ENTRY_POINT, envelope)
    assert wait_ended(build).status == BuildStatus.SUCCEEDED
    events = build.events.count()
    job = signing.queue(daemon).enqueue(signing.ENTRY_POINT, envelope)
    deadline = time.monotonic() + 10
    while job.get_status(refresh=True) not in ("finished", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
    build.refresh_from_db()
    assert build.status == BuildStatus.SUCCEEDED and build.events.count() == events


def test_a_pickled_job_is_never_unpickled(cluster, daemon, tmp_path):
    from rq import Queue

    marker = tmp_path / "pwned"
    # RQ's default serializer: loading this job would run `touch`, before any check.
    Queue(f"mln.{daemon}", connection=cluster.redis).enqueue("os.system", f"touch {marker}")
    build = queued(project_on(daemon, "after"), daemon)
    build.enqueue(cluster.conf)
    assert wait_ended(build).status == BuildStatus.SUCCEEDED  # the daemon went on past it
    assert not marker.exists()


def test_verify_names_the_reason_without_a_daemon(cluster):
    conf = cluster.conf
    envelope = signing.seal(7, "x", conf, submitter="127.0.0.1")
    assert signing.verify(envelope, conf, "mln.x") == 7
    with pytest.raises(signing.JobRefused, match="not one a daemon runs"):
        bad = {**envelope, "function": "os.system"}
        bad["signature"] = signing.signature(bad, signing.secret(conf))
        signing.verify(bad, conf, "mln.x")
