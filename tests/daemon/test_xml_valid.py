"""Every domain and network XML the daemon writes passes libvirt's own schema."""

import subprocess

import pytest

from daemon.agent import libvirt_xml
from daemon.agent.plan import plan_project
from daemon.cluster.runner import registered_images
from tests.factories import ldaptest


def validate(tmp_path, name, xml, schema):
    path = tmp_path / f"{name}.xml"
    path.write_text(xml)
    result = subprocess.run(["virt-xml-validate", str(path), schema], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + xml


@pytest.mark.parametrize("nat", [False, True])
def test_domains_and_networks_pass_virt_xml_validate(libvirt_test, mln_conf, tiny, tmp_path, nat):
    spec = ldaptest(nat=nat)
    spec.hosts["ldapserver"].vncdisplay = 7
    spec.hosts["ldapserver"].vncpasswd = 'pa"s<s>&'
    plan = plan_project(spec, mln_conf, libvirt_test, registered_images())
    for host in plan.hosts:
        validate(tmp_path, host.guest.name, libvirt_xml.domain_xml(host.guest), "domain")
    for network in plan.networks:
        validate(tmp_path, network.name, libvirt_xml.network_xml(network), "network")


def test_kvm_and_hvm_guests_and_host_bridges_validate(tmp_path):
    guest = libvirt_xml.GuestDefinition(
        project="p",
        host="h",
        name="p.h",
        domain_type="kvm",
        memory=128 << 20,
        vcpus=2,
        disk="/d/h.qcow2",
        seed=None,
        console_log="/d/h.log",
        vnc_listen="127.0.0.1",
        vnc_password="x",
        arch="x86_64",
        nics=[libvirt_xml.Nic("52:54:00:00:00:01", "p.lan")],
    )
    validate(tmp_path, "hvm", libvirt_xml.domain_xml(guest), "domain")
    bridged = libvirt_xml.NetworkDefinition("p", "public", "p.public", "mlnx", host_bridge="br0")
    validate(tmp_path, "bridged", libvirt_xml.network_xml(bridged), "network")


def test_pv_guests_boot_the_hosts_kernel(libvirt_test, mln_conf, tiny):
    plan = plan_project(ldaptest(), mln_conf, libvirt_test, registered_images())
    xml = libvirt_xml.domain_xml(plan.hosts[0].guest)
    assert f"<kernel>{mln_conf.kernel}</kernel>" in xml
    assert "<cmdline>root=/dev/vda console=tty1 console=ttyS0 no_timer_check</cmdline>" in xml
    assert "<acpi /><apic />" in xml


def test_bridge_names_fit_in_fifteen_characters():
    assert len(libvirt_xml.bridge_name("a-very-long-project-name" * 3, "LDAPlan")) == 15
    assert libvirt_xml.bridge_name("p", "a") != libvirt_xml.bridge_name("p", "b")


def test_storage_pools_and_overlays_validate_and_overlays_are_qcow2_v3(tmp_path):
    validate(tmp_path, "pool", libvirt_xml.pool_xml("mln.p", "/d/p"), "storagepool")
    overlay = libvirt_xml.overlay_xml("h.qcow2", 2 << 30, "/d/tiny.ext4", "raw")
    validate(tmp_path, "overlay", overlay, "storagevol")
    assert "<compat>1.1</compat>" in overlay
