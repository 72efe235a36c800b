"""Remarks on a valid project that are worth saying but are not errors."""

from .spec import _keypos


class Note(str):
    """The remark as a string, with `position` where the tree still knows it."""

    def __new__(cls, message, position=None):
        note = super().__new__(cls, message)
        note.position = position
        return note

    def located(self):
        return f"{self.position}: note: {self}" if self.position else f"note: {self}"


def check(tree):
    notes = []
    switches, hosts = tree.get("switches", {}), tree.get("hosts", {})
    on_dhcp, on_no_switch = {}, {}
    for host_name, host in hosts.items():
        if "template" not in host:
            notes.append(
                Note(
                    f"host {host_name} has no template: the daemon's default_template applies",
                    _keypos(hosts, host_name),
                )
            )
        network = host.get("network")
        for nic_name, nic in network.items() if isinstance(network, dict) else ():
            if not isinstance(nic, dict):
                continue
            if "switch" not in nic:
                on_no_switch.setdefault(nic_name, []).append(host_name)
            elif nic.get("address") == "dhcp":
                on_dhcp.setdefault(nic["switch"], []).append(host_name)
    for nic_name, names in on_no_switch.items():
        notes.append(Note(f"interface {nic_name} of {_hosts(names)} is on no switch", _keypos(hosts, names[0])))
    for switch_name, asking in on_dhcp.items():
        switch = switches.get(switch_name)
        if isinstance(switch, dict) and switch.get("nat") is not True and "bridge" not in switch:
            notes.append(
                Note(
                    f"nothing on switch {switch_name} serves DHCP for {_hosts(asking)}: "
                    "add `nat` or `bridge IFACE`, unless a guest runs a DHCP server",
                    _keypos(switches, switch_name),
                )
            )
    return notes


def _hosts(names):
    if len(names) == 1:
        return f"host {names[0]}"
    shown = ", ".join(names[:3])
    return f"hosts {shown}" + (f" and {len(names) - 3} more" if len(names) > 3 else "")
