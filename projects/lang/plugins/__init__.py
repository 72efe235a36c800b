"""Plugins: Python classes found through the entry-point group `mln.plugins`.

Each entry point is named by the block keyword its class owns (`autoenum`,
`apache`, `sshkey`); the built-ins are registered in pyproject.toml exactly
as a third party registers its own, so nothing here lists them.

Two kinds, told apart by their base class:

- GeneratorPlugin: its block in `global` makes hosts, then leaves `global`.
- HostPlugin: its block configures a host's guest. A block in `global` is
  the default for every host; each host's own block is merged over it.
"""

from functools import lru_cache
from importlib.metadata import entry_points

GROUP = "mln.plugins"


class Plugin:
    keyword = None  # the block keyword it owns; set from the entry point's name

    def check(self, block, errors):
        """Add an error to `errors` (an ErrorList) for each setting the plugin cannot use."""


class GeneratorPlugin(Plugin):
    def generate(self, block, errors):
        """Return {host name: Block of the host's statements} made from the `global` block."""
        raise NotImplementedError

    def planned_hosts(self, block):
        """How many hosts `generate` would make, when the block says (None: unknown).

        Called first, so a project's max_hosts refuses the block before any host is made.
        """
        return None


class HostPlugin(Plugin):
    def guest_config(self, block):
        """What the build writes into the guest's configuration for this block (plain data)."""
        return dict(block)


@lru_cache(maxsize=1)
def discover():
    """{keyword: plugin instance}, read once per process (tests clear the cache)."""
    plugins = {}
    for entry_point in entry_points(group=GROUP):
        cls = entry_point.load()
        if not (isinstance(cls, type) and issubclass(cls, (GeneratorPlugin, HostPlugin))):
            continue  # not a plugin of ours; a broken third party must not stop every check
        plugin = cls()
        plugin.keyword = entry_point.name
        plugins[entry_point.name] = plugin
    return plugins


def generators():
    return {k: p for k, p in discover().items() if isinstance(p, GeneratorPlugin)}


def host_plugins():
    return {k: p for k, p in discover().items() if isinstance(p, HostPlugin)}
