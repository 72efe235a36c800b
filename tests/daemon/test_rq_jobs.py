"""Jobs delivered by RQ: enqueued on the service host's queue, run by a real worker, real Redis."""

import uuid

import django_rq
import pytest
from rq import Queue

from projects.choices import Action, BuildStatus
from tests.factories import ldaptest, save_project


@pytest.fixture
def service_host():
    """A queue of its own, so no other worker on this Redis takes the job."""
    name = f"pytest-{uuid.uuid4().hex[:8]}"
    yield name
    Queue(f"mln.{name}", connection=django_rq.get_connection("default")).delete(delete_jobs=True)


def work(service_host):
    # The daemon's own worker (a SimpleWorker on the test driver: its guests live in this process).
    from daemon import conf
    from daemon.cluster import worker

    worker.worker_for(conf.load(), django_rq.get_connection("default"), [f"mln.{service_host}"]).work(burst=True)


def test_a_build_is_enqueued_after_commit_and_run_by_the_daemon(
    libvirt_test, mln_conf, tiny, service_host, django_capture_on_commit_callbacks
):
    project = save_project(ldaptest())
    with django_capture_on_commit_callbacks(execute=True):
        build = project.enqueue_build(Action.BUILD, service_host)
    queue = Queue(f"mln.{service_host}", connection=django_rq.get_connection("default"))
    assert queue.job_ids == [f"build-{build.pk}"]
    work(service_host)
    build.refresh_from_db()
    assert build.status == BuildStatus.SUCCEEDED, build.error
    assert libvirt_test.project_objects("ldaptest").domains == ["ldaptest.ldapclient", "ldaptest.ldapserver"]
    assert build.events.count() > 0


def test_start_stop_and_remove_through_the_queue(
    libvirt_test, mln_conf, tiny, service_host, django_capture_on_commit_callbacks
):
    project = save_project(ldaptest())
    for action in (Action.BUILD, Action.START, Action.STOP, Action.REMOVE):
        with django_capture_on_commit_callbacks(execute=True):
            build = project.enqueue_build(action, service_host)
        work(service_host)
        build.refresh_from_db()
        assert build.status == BuildStatus.SUCCEEDED, (action, build.error)
    assert not libvirt_test.project_objects("ldaptest")
