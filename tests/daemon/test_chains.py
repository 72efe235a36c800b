"""A chain of Builds (daemon/cluster/chains.py): deferred jobs on real Redis, a failed step failing the rest."""

import uuid
from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from daemon.cluster import chains, dispatch
from projects.choices import Action, BuildStatus
from projects.models import Build
from tests.factories import ldaptest, save_project


@pytest.fixture
def service_hosts():
    names = [f"pytest-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    yield names
    for name in names:
        Queue(f"mln.{name}", connection=django_rq.get_connection("default")).delete(delete_jobs=True)


def two_steps(service_hosts):
    return [
        chains.Step("export web from one", Action.MIGRATE_OUT, service_hosts[0], "web"),
        chains.Step("import web on two", Action.MIGRATE_IN, service_hosts[1], "web"),
    ]


def status(build):
    return Job.fetch(
        f"build-{build.pk}", connection=django_rq.get_connection("default"), serializer=JSONSerializer
    ).get_status()


def test_a_later_step_waits_deferred_and_is_cancelled_when_the_one_before_fails(db, mln_conf, service_hosts):
    first, second = chains.create(save_project(ldaptest()), two_steps(service_hosts), mln_conf)
    chains.enqueue([first, second], mln_conf)
    assert (status(first), status(second)) == ("queued", "deferred")
    first.fail("the disk is gone")  # fails the rest of its chain too
    second.refresh_from_db()
    assert (second.status, second.error) == (
        BuildStatus.FAILED,
        "not run: export web from one failed: the disk is gone",
    )
    assert status(second) == "canceled"


def test_the_sweep_fails_the_rest_of_a_chain_whose_step_was_interrupted(db, mln_conf, service_hosts):
    first, second = chains.create(save_project(ldaptest()), two_steps(service_hosts), mln_conf)
    # A killed daemon's step, failed by the build that superseded it, without failing the rest.
    Build.objects.filter(pk=first.pk).update(status=BuildStatus.FAILED, error="interrupted")
    Build.objects.filter(pk=second.pk).update(created_at=timezone.now() - timedelta(seconds=mln_conf.daemon_wait + 1))
    dispatch.sweep(django_rq.get_connection("default"), mln_conf)
    second.refresh_from_db()
    assert second.error == "not run: export web from one failed: interrupted"
