"""An interface name is a key of the guest's network configuration: only a plain Linux name gets there.

The language refuses other names (tests/lang/test_limits.py); this is the
daemon's own check, for a spec that did not come through it (an import, a
row written by other means).
"""

import pytest
import yaml

from daemon.agent.guest_config import GuestConfigError, network_config
from projects.lang.spec import HostSpec, InterfaceSpec, Position


def host_with_interface(name):
    return HostSpec(
        name="h",
        interfaces=[InterfaceSpec(name=name, address="10.0.0.2", netmask="255.255.255.0")],
        position=Position("m.mln", 3, 1),
    )


@pytest.mark.parametrize("name", ["eth0: {}\n  evil", "eth0:", "a b", "- x", "x" * 16, ""])
def test_an_interface_name_that_could_change_the_yaml_is_refused(name):
    with pytest.raises(GuestConfigError) as caught:
        network_config(host_with_interface(name), {})
    assert "host h (m.mln:3:1)" in str(caught.value) and "interface name" in str(caught.value)


def test_a_plain_interface_name_is_the_one_key_of_its_ethernet():
    config = yaml.safe_load(network_config(host_with_interface("eth0.10"), {}))
    assert list(config["ethernets"]) == ["eth0.10"]


def test_the_interface_name_key_is_quoted_like_every_value():
    text = network_config(host_with_interface("eth0.10"), {})
    assert '  "eth0.10":' in text.splitlines()
