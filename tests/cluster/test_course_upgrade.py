"""The portal's course upgrade moves hosts between daemons as a chain of Builds, the page never waiting."""

import itertools
import subprocess
import time

import pytest
from django.urls import reverse

from daemon.cluster import dispatch
from projects import actions, course_upgrade
from projects.choices import MIGRATION_SIDES, Action, BuildStatus
from projects.courses import CourseInputs
from projects.models import Host
from tests.factories import instructor, make_course

MASTER = """switch lan { }
host pc {
    template tiny
    memory 128M
    service_host $sh
    network eth0 { switch lan
        address 10.0.0.2
        netmask 255.255.255.0 }
}
"""


def inputs(service_host):
    return CourseInputs("lab.mln", {"lab.mln": MASTER}, "t.csv", f"sh\n{service_host}\n".encode())


@pytest.fixture
def course(cluster, templates, django_user_model):
    """A course of one group whose host `pc` is built on alpha; beta is up too."""
    a, b = cluster.start("alpha"), cluster.start("beta")
    course = make_course(instructor("teacher"), short_name=f"lab{cluster.tag}", name="Lab", inputs=inputs(a))
    project = course.groups.get().project
    built = dispatch.follow(actions.build_projects([project], cluster.conf), cluster.conf)
    assert [b.status for b in built] == [BuildStatus.SUCCEEDED], [b.error for b in built]
    # libvirt's test driver keeps volumes in memory; an export reads the disk file qemu:///system would have made.
    disk = cluster.root / "alpha" / "projects" / project.name / "pc.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", templates["tiny"].image, "-F", "raw", str(disk)], check=True
    )
    return course, project, a, b


def chain(builds):
    return [(b.action, b.service_host, MIGRATION_SIDES.get(b.action, "")) for b in builds]


def test_a_course_upgrade_moves_a_host_cold_without_the_page_waiting(course, cluster):
    course, project, a, b = course
    started = time.monotonic()
    builds = course_upgrade.upgrade(course, inputs(b))
    assert time.monotonic() - started < 1.5  # less than one daemon_wait: nothing was followed
    assert all(x.status in (BuildStatus.QUEUED, BuildStatus.RUNNING) for x in builds)
    assert chain(builds) == [
        (Action.MIGRATE_OUT, a, "out"),
        (Action.UPGRADE, a, ""),
        (Action.UPGRADE, b, ""),
        (Action.MIGRATE_IN, b, "in"),
    ]

    done = dispatch.follow(builds, cluster.conf)
    assert [x.status for x in done] == [BuildStatus.SUCCEEDED] * 4, [x.error for x in done]
    assert [x.started_at < y.started_at for x, y in itertools.pairwise(done)] == [True] * 3  # one after another
    host = Host.objects.get(project__name=project.name, name="pc")
    assert (host.service_host, host.state) == (b, "stopped")
    assert (cluster.root / "beta" / "projects" / project.name / "pc.base.qcow2").exists()
    assert not (cluster.root / "alpha" / "projects" / project.name).exists()  # nothing left on alpha
    project.refresh_from_db()
    assert project.spec["hosts"]["pc"]["service_host"] == b


def test_the_draft_page_shows_the_move_and_apply_as_upgrade_queues_it(course, cluster, client):
    course, project, a, b = course
    client.force_login(course.owner)
    draft = course.drafts.create(created_by=course.owner, **vars(inputs(b)))
    page = client.get(reverse("course_draft", args=[course.short_name, draft.pk])).content.decode()
    assert f"{project.name}: move pc: {a} -&gt; {b}, cold (libvirt&#x27;s TEST driver cannot migrate" in page
    assert "Apply as upgrade" in page

    started = time.monotonic()
    response = client.post(reverse("course_draft_upgrade", args=[course.short_name, draft.pk]), follow=True)
    assert time.monotonic() - started < 1.5
    assert "Applied; 4 upgrade jobs queued." in response.content.decode()
    builds = list(project.builds.filter(action__in=[*MIGRATION_SIDES, Action.UPGRADE]).order_by("pk"))
    assert chain(builds) == [
        (Action.MIGRATE_OUT, a, "out"),
        (Action.UPGRADE, a, ""),
        (Action.UPGRADE, b, ""),
        (Action.MIGRATE_IN, b, "in"),
    ]
    assert [x.status for x in dispatch.follow(builds, cluster.conf)] == [BuildStatus.SUCCEEDED] * 4
    assert Host.objects.get(project__name=project.name, name="pc").service_host == b


def test_a_step_that_fails_fails_every_build_after_it(course, cluster):
    course, project, a, b = course
    # pc is no longer on alpha: its export, the chain's first step, cannot be done.
    removed = dispatch.follow(dispatch.submit(project, Action.REMOVE, cluster.conf, [a], "pc"), cluster.conf)
    assert removed[0].status == BuildStatus.SUCCEEDED, removed[0].error

    done = dispatch.follow(course_upgrade.upgrade(course, inputs(b)), cluster.conf)
    assert [x.status for x in done] == [BuildStatus.FAILED] * 4
    assert done[0].error == f"host pc is not on {a}"
    for later in done[1:]:
        assert later.error == f"not run: export pc from {a} failed: host pc is not on {a}"
        assert later.started_at is None
    assert (
        not cluster.redis.exists(f"rq:job:build-{done[-1].pk}")
        or cluster.redis.hget(f"rq:job:build-{done[-1].pk}", "status") == b"canceled"
    )


def test_a_daemon_that_dies_during_the_chain_fails_its_step_and_the_rest(course, cluster):
    course, project, a, b = course
    builds = course_upgrade.upgrade(course, inputs(b))
    cluster.kill(b)
    done = dispatch.follow(builds, cluster.conf)
    assert [x.status for x in done] == [BuildStatus.SUCCEEDED] * 2 + [BuildStatus.FAILED] * 2
    assert done[2].error.startswith(f"service host {b} has no live daemon")
    assert done[3].error.startswith(f"not run: upgrade on {b} failed: service host {b} has no live daemon")


def test_the_page_refuses_a_move_towards_a_dead_daemon(course, cluster):
    course, project, a, b = course
    cluster.kill(b)
    time.sleep(1.6)  # heartbeat_ttl: beta is dead
    with pytest.raises(course_upgrade.UpgradeRefused, match=f"service host {b} has no live daemon"):
        course_upgrade.upgrade(course, inputs(b))
    assert not project.builds.filter(action__in=MIGRATION_SIDES).exists()
