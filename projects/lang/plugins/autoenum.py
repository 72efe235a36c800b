"""`autoenum { superclass S; numhosts N; ... }`: N hosts named S-1 .. S-N.

With `address auto`, host n gets `addresses_begin + n - 1` inside `net` (an
offset from the network address, or a full address to count from) on
`interface` (eth0 by default), with the netmask of `net`. With
`service_hosts { ... }`, the hosts are dealt round-robin to the listed
service hosts, in order.
"""

import ipaddress

from ..blocks import Block
from . import GeneratorPlugin


class Autoenum(GeneratorPlugin):
    def planned_hosts(self, block):
        count = block.get("numhosts")
        if not _is_count(count):
            return None
        return int(count) if len(count) <= 18 else 10**18  # int() of thousands of digits is an error of its own

    def generate(self, block, errors):
        superclass = block.get("superclass")
        count = block.get("numhosts")
        if not isinstance(superclass, str):
            errors.add(block.where("superclass"), "autoenum needs `superclass NAME`", "plugin")
            return {}
        if not _is_count(count):
            errors.add(block.where("numhosts"), "autoenum needs `numhosts N`, a whole number", "plugin")
            return {}
        addresses = self._addresses(block, int(count), errors)
        service_hosts = self._service_hosts(block)
        interface = block.get("interface", "eth0")
        hosts = {}
        for n in range(1, int(count) + 1):
            host = Block(pos=block.pos)
            host.put("superclass", superclass, block.keypos.get("superclass"), block.valpos.get("superclass"))
            if addresses:
                address, netmask = addresses[n - 1]
                nic = Block(pos=block.pos)
                nic.put("address", address, block.keypos.get("address"))
                nic.put("netmask", netmask, block.keypos.get("net"))
                host.put("network", Block({interface: nic}, pos=block.pos, named=True), block.keypos.get("address"))
            elif isinstance(block.get("address"), str):
                nic = Block(pos=block.pos)
                nic.put("address", block["address"], block.keypos.get("address"))
                host.put("network", Block({interface: nic}, pos=block.pos, named=True), block.keypos.get("address"))
            if service_hosts:
                host.put("service_host", service_hosts[(n - 1) % len(service_hosts)], block.keypos.get("service_hosts"))
            hosts[f"{superclass}-{n}"] = host
        return hosts

    def _addresses(self, block, count, errors):
        if block.get("address") != "auto":
            return None
        try:
            net = ipaddress.IPv4Network(_with_prefix(block.get("net")), strict=False)
        except (ValueError, TypeError):
            errors.add(block.where("net"), "autoenum `address auto` needs `net A.B.C.D` or `net A.B.C.D/N`", "plugin")
            return None
        try:
            begin = _first_address(block.get("addresses_begin", "1"), net)
        except ValueError:
            errors.add(
                block.where("addresses_begin"),
                "autoenum addresses_begin must be a whole number or an IPv4 address",
                "plugin",
            )
            return None
        first, last = int(begin), int(begin) + count - 1
        low, high = int(net.network_address), int(net.broadcast_address)
        if net.prefixlen < 31:  # the network and broadcast addresses are no host's
            low, high = low + 1, high - 1
        for address in (first, last):
            if not low <= address <= high:
                shown = ipaddress.IPv4Address(address) if address < 2**32 else "beyond 255.255.255.255"
                errors.add(
                    block.where("addresses_begin"),
                    f"autoenum address {shown} (host {address - first + 1}) is outside net {net}",
                    "address-outside-net",
                )
                return None
        netmask = str(net.netmask)
        return [(str(ipaddress.IPv4Address(first + i)), netmask) for i in range(count)]

    def _service_hosts(self, block):
        listed = block.get("service_hosts")
        if isinstance(listed, dict):
            return list(listed)
        if isinstance(listed, str):
            return listed.split()
        return []


def _is_count(text):
    return isinstance(text, str) and text.isascii() and text.isdigit()


def _with_prefix(net):
    # The article writes a bare network address for a /24.
    return net if "/" in net else f"{net}/24"


def _first_address(begin, net):
    if "." in begin:
        return ipaddress.IPv4Address(begin)
    if not begin.isdigit():
        raise ValueError(begin)
    return net.network_address + int(begin)
