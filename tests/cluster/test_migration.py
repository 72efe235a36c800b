"""`mln upgrade` moves hosts whose service_host changed: cold between two daemons, nothing lost."""

import hashlib
import subprocess
import tempfile

import pytest

from daemon.agent.hypervisor import LIVE_MIGRATION_FLAGS, Hypervisor, HypervisorError
from daemon.cluster import upgrade_plan
from projects import lang
from projects.choices import MIGRATION_SIDES, BuildStatus
from projects.cli import main
from projects.models import Host, Project

LAB = """global {{ project lab }}
switch lan {{ }}
host web {{
    template tiny
    memory {memory}
    service_host {web}
    network eth0 {{ switch lan
        address 10.0.0.2
        netmask 255.255.255.0 }}
}}
host db {{
    template tiny
    memory 128M
    service_host {db}
    network eth0 {{ switch lan
        address 10.0.0.3
        netmask 255.255.255.0 }}
}}
"""


def write(path, **values):
    path.write_text(LAB.format(**{"memory": "128M", **values}))
    return path


def content(path):
    """The sha256 of what a disk holds, whatever its format and backing chain (converted outside the
    disk's folder: a file of the test's there would keep the daemon from removing the folder)."""
    with tempfile.TemporaryDirectory() as scratch:
        raw = f"{scratch}/disk.raw"
        subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", str(path), raw], check=True)
        with open(raw, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()


@pytest.fixture
def lab(cluster, templates, tmp_path):
    a, b = cluster.start("alpha"), cluster.start("beta")
    source = write(tmp_path / "lab.mln", web=a, db=a)
    assert main(["build", "-f", str(source)]) == 0  # both hosts on alpha, through its queue
    project = Project.objects.get(name="lab")
    # libvirt's test driver keeps volumes in memory; qemu:///system would have written these files.
    for host, byte in (("web", "0x5a"), ("db", "0xa5")):
        disk = cluster.root / "alpha" / "projects" / "lab" / f"{host}.qcow2"
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-b", templates["tiny"].image, "-F", "raw", str(disk)],
            check=True,
        )
        subprocess.run(["qemu-io", "-c", f"write -P {byte} 1M 2M", str(disk)], check=True, capture_output=True)
    return a, b, project


def test_the_plan_names_the_move_and_why_it_is_cold(lab, tmp_path, capsys):
    a, b, _project = lab
    capsys.readouterr()
    assert main(["upgrade", "-f", str(write(tmp_path / "new.mln", web=b, db=a, memory="256M")), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "lab: change web: memory 128M -> 256M (redefined, from the next start)" in out
    assert any(
        line.startswith(f"lab: move web: {a} -> {b}, cold (libvirt's TEST driver cannot migrate") for line in out
    ), out
    assert Project.objects.get(name="lab").spec["hosts"]["web"]["service_host"] == a  # a dry run changes nothing


def test_cold_migration_moves_a_project_to_another_daemon_with_nothing_lost(lab, tmp_path, cluster):
    a, b, project = lab
    before = {h.name: h for h in Host.objects.filter(project=project)}
    disks = {h: content(cluster.root / "alpha" / "projects" / "lab" / f"{h}.qcow2") for h in ("web", "db")}
    assert main(["upgrade", "-f", str(write(tmp_path / "moved.mln", web=b, db=b))]) == 0
    project.refresh_from_db()
    assert {h["service_host"] for h in project.spec["hosts"].values()} == {b}
    after = {h.name: h for h in Host.objects.filter(project=project)}
    for name, row in before.items():
        assert after[name].service_host == b
        assert (after[name].template, after[name].memory, after[name].addresses, after[name].vnc_password) == (
            row.template,
            row.memory,
            row.addresses,
            row.vnc_password,
        )
        assert after[name].state == "stopped"  # defined on beta, as it was on alpha
        # The disk beta's overlay stands on holds exactly what alpha's held.
        assert content(cluster.root / "beta" / "projects" / "lab" / f"{name}.base.qcow2") == disks[name]
        export = cluster.transfer / f"lab.{name}"
        assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=export, capture_output=True).returncode == 0
    assert not (cluster.root / "alpha" / "projects" / "lab").exists()  # nothing left behind on alpha
    moves = project.builds.filter(action__in=MIGRATION_SIDES)
    assert sorted((m.service_host, MIGRATION_SIDES[m.action], m.status) for m in moves) == sorted(
        [(a, "out", BuildStatus.SUCCEEDED)] * 2 + [(b, "in", BuildStatus.SUCCEEDED)] * 2
    )


def live_facts(hypervisor="QEMU", san="/mnt/san", projects="/mnt/san/projects"):
    return {
        "hypervisor": hypervisor,
        "migration_uri": "qemu+tcp://x/system",
        "san_path": san,
        "projects": projects,
        "lvm_vg": "vmgroup",
    }


@pytest.mark.parametrize(
    "host, facts, mode, why",
    [
        ({"filepath": "/mnt/san/lab"}, {}, "live", "peer to peer, disks on /mnt/san"),
        ({"lvm": True}, {}, "live", "peer to peer"),
        ({}, {}, "cold", "its disk is not on shared storage"),
        ({"filepath": "/mnt/san/lab"}, {"san": ""}, "cold", "no san_path common"),
        ({"filepath": "/mnt/san/lab"}, {"projects": "/var/lib/mln"}, "cold", "projects folders are not one folder"),
        ({"filepath": "/mnt/san/lab"}, {"hypervisor": "TEST"}, "cold", "TEST driver cannot migrate"),
    ],
)
def test_live_where_both_hypervisors_can_and_the_disks_are_shared(host, facts, mode, why):
    live = {"one": live_facts(), "two": live_facts(**facts)}
    got_mode, reason = upgrade_plan.migration_mode(host, "one", "two", live, "running")
    assert got_mode == mode and why in reason


def test_a_stopped_host_moves_cold():
    live = {"one": live_facts(), "two": live_facts()}
    assert upgrade_plan.migration_mode({"filepath": "/mnt/san/x"}, "one", "two", live, "stopped") == (
        "cold",
        "the host is not running",
    )


def test_the_live_migration_call_reaches_libvirt_peer_to_peer(libvirt_test_default):
    # The test driver refuses p2p migration, after libvirt has read the flags and parameters.
    with pytest.raises(HypervisorError, match="p2p migration is not supported"):
        libvirt_test_default.migrate_live("test", "qemu+tcp://elsewhere/system")
    assert LIVE_MIGRATION_FLAGS == 1 | 2 | 8 | 16  # LIVE, PEER2PEER, PERSIST_DEST, UNDEFINE_SOURCE


def test_live_migration_refuses_a_disk_outside_the_shared_storage(libvirt_test_default):
    # Its disk is /guest/diskimage1: under /guest libvirt is asked (and the test driver refuses p2p).
    with pytest.raises(HypervisorError, match="test: disk /guest/diskimage1 is not under the shared storage /mnt/san"):
        libvirt_test_default.migrate_live("test", "qemu+tcp://elsewhere/system", shared_storage="/mnt/san")
    with pytest.raises(HypervisorError, match="p2p migration is not supported"):
        libvirt_test_default.migrate_live("test", "qemu+tcp://elsewhere/system", shared_storage="/guest")


@pytest.fixture
def libvirt_test_default():
    with Hypervisor("test:///default") as hypervisor:
        yield hypervisor


def test_a_new_host_without_service_host_joins_the_project_and_an_unchanged_file_changes_nothing(db):
    spec = lang.build_spec(lang.loads(LAB.format(memory="128M", web="one", db="one"), "lab.mln"))
    project = Project.objects.create(name="lab", spec=spec.to_dict())
    grown = LAB.format(memory="128M", web="one", db="one") + "host cache { template tiny\n memory 128M }\n"
    from daemon import conf

    plan = upgrade_plan.plan_upgrade(project, lang.build_spec(lang.loads(grown, "lab.mln")), conf.load(), {}, {})
    assert plan.lines() == ["lab: add host cache on one"]
    assert not upgrade_plan.plan_upgrade(project, spec, conf.load(), {}, {})


def test_a_course_offers_the_plan_of_its_new_version(db, django_user_model, tmp_path, monkeypatch):
    from projects.courses import CourseInputs
    from projects.models import Course

    from ..projects.conftest import OSCOURSE, table_bytes

    (tmp_path / "mln.conf").write_text("vncdisplay_range 300-399\n")  # the article's course pins display 300
    monkeypatch.setenv("MLN_CONF", str(tmp_path / "mln.conf"))
    owner = django_user_model.objects.create_user("teacher")
    course = Course(name="OS", short_name="os", owner=owner)
    table = table_bytes(["gnum", "userpasswd", "rpasswd", "vncpasswd"], ["01", "a" * 16, "b" * 16, "c" * 16])
    course.apply(CourseInputs("oscourse.mln", {"oscourse.mln": OSCOURSE}, "t.csv", table))
    bigger = OSCOURSE.replace("memory 128M", "memory 512M")
    plans = course.upgrade_plans(CourseInputs("oscourse.mln", {"oscourse.mln": bigger}, "t.csv", table))
    ((name, plan),) = plans.items()
    assert plan.lines() == [f"{name}: change ubuntu: memory 128M -> 512M (redefined, from the next start)"]
