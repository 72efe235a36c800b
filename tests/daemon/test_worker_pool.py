"""`jobs_in_parallel`: how many jobs one daemon runs at once, read from mln.conf within bounds.

(That the pool really runs two projects' jobs at once, and one project's in
turn, is tests/cluster/test_parallel_jobs.py, on real guests.)
"""

import uuid

import django_rq
import pytest

from daemon import conf
from daemon.agent.hypervisor import Hypervisor
from daemon.cluster import builds, heartbeat, signing, worker
from projects.choices import Action
from tests.factories import make_project, one_host


def load(tmp_path, text):
    path = tmp_path / "mln.conf"
    path.write_text(text)
    return conf.load(path)


def test_a_daemon_runs_four_jobs_at_once_unless_mln_conf_says_otherwise(tmp_path):
    assert load(tmp_path, "").jobs_in_parallel == 4
    assert load(tmp_path, "jobs_in_parallel 12\n").jobs_in_parallel == 12


@pytest.mark.parametrize("value", ["0", "65", "-1", "many", "2.5"])
def test_a_jobs_in_parallel_out_of_bounds_is_refused_naming_the_line(tmp_path, value):
    with pytest.raises(conf.ConfError) as refused:
        load(tmp_path, f"service_host a\njobs_in_parallel {value}\n")
    assert str(refused.value).startswith(f"{tmp_path / 'mln.conf'}:2: jobs_in_parallel:")


def test_the_pool_has_as_many_workers_as_jobs_in_parallel_on_the_daemons_queue(tmp_path):
    mln_conf = load(tmp_path, "libvirt_uri qemu:///system\njobs_in_parallel 3\nservice_host pool-test\n")
    pool = worker.pool_for(mln_conf, django_rq.get_connection("default"))
    assert pool.num_workers == 3 and [q.name for q in pool.queues] == ["mln.pool-test"]


def test_the_heartbeat_says_how_many_jobs_run_at_once_and_the_test_driver_runs_one(tmp_path):
    on_test_driver = load(tmp_path, "libvirt_uri test:///default\njobs_in_parallel 6\n")
    with Hypervisor("test:///default") as hypervisor:
        assert heartbeat.facts(on_test_driver, hypervisor)["jobs_in_parallel"] == 1
        real = load(tmp_path, "jobs_in_parallel 6\n")
        assert heartbeat.facts(real, hypervisor)["jobs_in_parallel"] == 6


@pytest.mark.django_db
def test_a_jobs_project_lock_is_held_while_it_runs_and_let_go_when_it_fails(tmp_path):
    mln_conf = load(tmp_path, f'service_host turn-{uuid.uuid4().hex[:6]}\ncluster_secret "turns"\n')
    redis = django_rq.get_connection("default")
    project = make_project(one_host(f"turn{uuid.uuid4().hex[:6]}"), rows=False)
    build = builds.submit(project, Action.START, mln_conf.service_host)
    envelope = signing.seal(build.pk, mln_conf.service_host, mln_conf)
    key = worker.TURN.format(mln_conf.service_host, project.pk)
    with pytest.raises(RuntimeError), worker.project_turn(redis, [envelope], mln_conf, mln_conf.queue_name):
        assert redis.exists(key) == 1 and 0 < redis.pttl(key) <= worker.TURN_TTL * 1000
        raise RuntimeError("the job failed")
    assert redis.exists(key) == 0


@pytest.mark.django_db
def test_a_forged_job_takes_no_lock(tmp_path):
    mln_conf = load(tmp_path, f'service_host turn-{uuid.uuid4().hex[:6]}\ncluster_secret "turns"\n')
    redis = django_rq.get_connection("default")
    forged = {"function": "daemon.cluster.runner.run", "args": [1], "build": 1, "signature": "0" * 64}
    with worker.project_turn(redis, [forged], mln_conf, mln_conf.queue_name):
        assert not redis.keys(worker.TURN.format(mln_conf.service_host, "*"))
