"""The picture of a project: its switches in a row above, its hosts in a row below, a line per NIC.

`layout(spec, states)` gives the coordinates; the template
projects/topology.html draws them as SVG. No JavaScript: the picture is
part of the page as it is served. A NIC on no switch (the article's
`address dhcp` on eth1, say) is a short stub under its host.
"""

from dataclasses import dataclass, field

COLUMN = 190  # px between the centres of two boxes in a row
HOST_W, HOST_H = 150, 54
SWITCH_W, SWITCH_H = 120, 30
SWITCH_Y, HOST_Y = 20, 150
MARGIN = 20


@dataclass
class Box:
    name: str
    x: float  # left
    y: float  # top
    width: int
    height: int
    detail: str = ""  # a host's template
    state: str = ""  # a host's state, as its daemon reported it

    @property
    def cx(self):
        return self.x + self.width / 2


@dataclass
class Link:
    x1: float
    y1: float
    x2: float
    y2: float
    label: str  # interface and address
    lx: float = 0  # where the label goes
    ly: float = 0


@dataclass
class Layout:
    width: int
    height: int
    hosts: list = field(default_factory=list)
    switches: list = field(default_factory=list)
    links: list = field(default_factory=list)


def layout(spec, states=None):
    """Boxes and lines for `spec` (ProjectSpec.to_dict()); `states`: host name -> state, for the colours."""
    hosts, switches = list(spec.get("hosts", {}).values()), list(spec.get("switches", {}))
    columns = max(len(hosts), len(switches), 1)
    width = MARGIN * 2 + COLUMN * (columns - 1) + HOST_W
    top = HOST_Y if switches else SWITCH_Y  # no switch row: the hosts move up
    picture = Layout(width, top + HOST_H + 50)
    switch_at = {}
    for i, name in enumerate(switches):
        box = Box(name, centred(i, len(switches), columns) - SWITCH_W / 2, SWITCH_Y, SWITCH_W, SWITCH_H)
        picture.switches.append(box)
        switch_at[name] = box
    for i, host in enumerate(hosts):
        box = Box(
            host["name"],
            centred(i, len(hosts), columns) - HOST_W / 2,
            top,
            HOST_W,
            HOST_H,
            host.get("template") or "",
            (states or {}).get(host["name"], ""),
        )
        picture.hosts.append(box)
        picture.links += nic_links(box, host.get("interfaces", []), switch_at)
    return picture


def centred(index, count, columns):
    """The centre x of box `index` of a row of `count`, the row centred in the widest one."""
    offset = (columns - count) * COLUMN / 2
    return MARGIN + HOST_W / 2 + offset + index * COLUMN


def nic_links(box, interfaces, switch_at):
    links = []
    for n, nic in enumerate(interfaces):
        label = " ".join(filter(None, [nic["name"], nic.get("address")]))
        # NICs leave the host's top edge side by side, so two NICs on one switch stay apart.
        x = box.x + box.width * (n + 1) / (len(interfaces) + 1)
        switch = switch_at.get(nic.get("switch"))
        if switch:
            link = Link(x, box.y, switch.cx, switch.y + switch.height, label)
            link.lx, link.ly = (link.x1 + link.x2) / 2 + 4, (link.y1 + link.y2) / 2 + 14 * (n % 2)
        else:
            link = Link(x, box.y + box.height, x, box.y + box.height + 16, label)
            link.lx, link.ly = x + 4, box.y + box.height + 30
        links.append(link)
    return links
