"""A daemon runs several jobs at once, but one project's jobs one at a time, in order.

A real `mln daemon` on qemu:///system (libvirt's test driver keeps its guests
in one process, so a pool of worker processes needs the real one) with
`jobs_in_parallel 4`, and two projects of one tiny host each. Building a
project makes a real overlay disk, seed and domain; nothing is started. The
times each Build was claimed and ended say what ran beside what.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from daemon.agent.hypervisor import Hypervisor, HypervisorError
from daemon.cluster import builds, dispatch
from projects.choices import Action, BuildStatus
from projects.models import Build
from templates_registry.models import Template
from tests.factories import make_project, one_host

pytestmark = [pytest.mark.qemu, pytest.mark.slow, pytest.mark.timeout(300)]

URI = "qemu:///system"
ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "var" / "templates"


def virsh(*args):
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True).stdout


@pytest.fixture
def qemu_folder():
    try:
        Hypervisor(URI).close()
    except HypervisorError as exc:
        pytest.skip(f"{URI} is not reachable (make libvirtd): {exc}")
    if not (TEMPLATES / "tiny.ext4").exists():
        pytest.skip("no tiny template (make tiny)")
    # libvirt's qemu user must reach the guests' files: not pytest's 0700 tmp.
    folder = Path(tempfile.mkdtemp(prefix="qemu-parallel-", dir=ROOT / "var"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def remove_by_hand(names):
    """Whatever a failed test left in libvirt of these projects (and only of them)."""
    with Hypervisor(URI) as hypervisor:
        for name in names:
            objects = hypervisor.project_objects(name)
            for domain in objects.domains:
                virsh("destroy", domain)
                virsh("undefine", domain)
            for network in objects.networks:
                virsh("net-destroy", network)
                virsh("net-undefine", network)
            for pool in objects.pools:
                virsh("pool-destroy", pool)
                virsh("pool-undefine", pool)


def overlap(a, b):
    return a.started_at < b.finished_at and b.started_at < a.finished_at


def test_two_projects_build_at_once_while_one_projects_jobs_wait_their_turn(cluster, qemu_folder):
    kernel = sorted(Path("/boot").glob("vmlinuz-*"))[-1]
    daemon = cluster.start(
        "par",
        extra=(
            f"libvirt_uri {URI}\nkernel {kernel}\ninitrd {TEMPLATES / 'tiny-initrd.img'}\n"
            f"projects {qemu_folder / 'projects'}\njobs_in_parallel 4\nnat_pool 10.251.0.0/16\n"
        ),
    )
    Template.register(TEMPLATES / "tiny.ext4", name="tiny", boot="pv")
    names = [f"par{cluster.tag}a", f"par{cluster.tag}b"]
    try:
        projects = [make_project(one_host(name, service_host=daemon), rows=False) for name in names]
        jobs = {}
        for project in projects:  # a's build and remove first, then b's: a lone worker would run them in turn
            for action in (Action.BUILD, Action.REMOVE):
                jobs[project.name, action] = build = builds.submit(project, action, daemon)
                build.enqueue(cluster.conf)
        dispatch.follow(list(jobs.values()), cluster.conf)
        done = {key: Build.objects.get(pk=build.pk) for key, build in jobs.items()}
        assert {key: b.status for key, b in done.items()} == dict.fromkeys(jobs, BuildStatus.SUCCEEDED), {
            key: b.error for key, b in done.items()
        }
        a, b = names
        # Two projects' builds ran at the same time...
        assert overlap(done[a, Action.BUILD], done[b, Action.BUILD])
        # ...while each project's remove, which a free worker took at once, waited for its build.
        for name in names:
            assert done[name, Action.BUILD].finished_at <= done[name, Action.REMOVE].started_at
        with Hypervisor(URI) as hypervisor:
            assert [hypervisor.project_objects(name).domains for name in names] == [[], []]
    finally:
        remove_by_hand(names)
