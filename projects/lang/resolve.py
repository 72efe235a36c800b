"""Syntax tree -> resolved tree, the JSON of `mln expand`.

In order: variables are substituted everywhere (definitions collected
first), statements become blocks (a key set twice is an error), superclasses
are inherited, the global block's plugins make hosts or set host defaults.
Every error found on the way is collected; all of them are raised at the end.
"""

import re

from . import plugins
from .blocks import Block, duplicate, merge
from .errors import ErrorList, MlnError, MlnErrors
from .limits import Limits
from .spec import Position, build_spec
from .variables import Variables

NAME = re.compile(r"[A-Za-z0-9-]+\Z")
NAMED_BLOCKS = ("host", "switch", "superclass")
SUPERCLASS_KINDS = {"unknown-superclass", "superclass-cycle"}


def resolve(statements, filename, variables=None, limits=Limits()):
    errors = ErrorList()
    statements = Variables(statements, variables, errors, limits).statements(statements)
    top = _TopLevel(statements, errors)
    superclasses = _Superclasses(top.superclasses, errors)
    global_block, generated, defaults = _global(top.global_block, errors, limits)

    hosts = Block(pos=top.global_block.pos, named=True)
    for name, host in generated.items():
        hosts.put(name, host, host.pos)
    for name, host in top.hosts.items():
        # The file's statements win over a generated host of the same name.
        hosts.put(name, merge(hosts[name], host) if name in hosts else host, top.hosts.keypos[name])
    if len(hosts) > limits.max_hosts:
        errors.add(
            hosts.keypos.get(list(hosts)[limits.max_hosts]) or hosts.pos,
            f"the project has {len(hosts)} hosts: at most {limits.max_hosts} (max_hosts in mln.conf)",
            "too-large",
        )
        errors.raise_if_any()
    settings = 0
    for name in hosts:
        hosts[name] = _host_plugins(superclasses.inherit(hosts[name]), defaults, errors)
        # Inheritance copies a superclass into every host: 1,000 hosts of a 40,000-line
        # superclass would be 40 million settings. Counted host by host, as they are made.
        settings += _settings(hosts[name])
        if settings > limits.max_statements:
            errors.add(
                hosts.keypos.get(name) or hosts.pos,
                f"the hosts hold more than {limits.max_statements} "
                "settings once superclasses and global plugin blocks are inherited (max_statements in "
                "mln.conf)",
                "too-large",
            )
            errors.raise_if_any()

    if errors and not all(e.kind in SUPERCLASS_KINDS for e in errors.errors):
        errors.raise_if_any()
    tree = Block(pos=Position(filename, 1, 1))
    tree.put(
        "project", global_block.get("project"), global_block.keypos.get("project"), global_block.valpos.get("project")
    )
    tree.put("global", global_block.without("project"), global_block.pos)
    tree.put("hosts", hosts, hosts.pos)
    tree.put("switches", top.switches, top.switches.pos)
    if errors:
        # Only superclass errors so far: a host that lost its superclass is still checked as it is
        # written, so one `mln check` lists every error of the file (the spec's checks are of values,
        # none of them asks for a key a superclass would have given).
        try:
            build_spec(tree)
        except MlnError as exc:
            errors.extend(exc.errors if isinstance(exc, MlnErrors) else [exc])
        errors.raise_if_any()
    return tree


class _TopLevel:
    """The global block and the named blocks of the top level, in file order."""

    def __init__(self, statements, errors):
        self.errors = errors
        self.global_block = Block()
        self.hosts, self.switches, self.superclasses = Block(named=True), Block(named=True), Block(named=True)
        first_global = None
        for statement in statements:
            key, names = statement.key, statement.words[1:]
            if key not in ("global", *NAMED_BLOCKS) or statement.body is None:
                errors.add(
                    statement.pos,
                    f"`{key}` cannot stand at the top level: expected `global {{ }}`, "
                    "`host NAME { }`, `switch NAME { }` or `superclass NAME { }`",
                    "unknown-block",
                )
            elif key == "global":
                if names:
                    errors.add(names[0].pos, "`global` takes no name", "syntax")
                if first_global is not None:
                    duplicate(errors, "the global block", statement.pos, first_global)
                    continue
                first_global = statement.pos
                self.global_block = to_block(statement.body, errors, statement.pos)
            elif len(names) != 1:
                errors.add(statement.pos, f"`{key}` needs exactly one name: `{key} NAME {{ }}`", "syntax")
            else:
                self._named(statement, key, names[0])

    def _named(self, statement, key, name):
        table = {"host": self.hosts, "switch": self.switches, "superclass": self.superclasses}[key]
        if not (name.broken or NAME.match(name.text)):
            self.errors.add(
                name.pos, f"{key} name {name.text!r} may hold letters, digits and hyphens only", "invalid-name"
            )
        if name.text in table:
            duplicate(self.errors, f"{key} `{name.text}`", statement.pos, table.keypos[name.text])
            return
        table.put(name.text, to_block(statement.body, self.errors, statement.pos), statement.pos, name.pos)


def to_block(statements, errors, pos=None):
    """A block's statements as a Block: flags are True, settings one string."""
    block = Block(pos=pos)
    for statement in statements:
        key, rest = statement.key, statement.words[1:]
        if statement.body is None:
            if rest and rest[0].raw == "=":
                rest = rest[1:]
            value = " ".join(w.text for w in rest) if rest else True
            _put(block, key, value, statement.pos, rest[0].pos if rest else statement.pos, errors)
        elif not rest:
            _put(block, key, to_block(statement.body, errors, statement.pos), statement.pos, None, errors)
        elif len(rest) == 1:
            named = block.get(key)
            if not (isinstance(named, Block) and named.named):
                named = Block(pos=statement.pos, named=True)
                if not _put(block, key, named, statement.pos, None, errors):
                    continue
            sub = to_block(statement.body, errors, statement.pos)
            _put(named, rest[0].text, sub, statement.pos, rest[0].pos, errors, f"`{key} {rest[0].text}`")
        else:
            errors.add(rest[1].pos, f"a block takes at most one name: `{key} {rest[0].text} {{ }}`", "syntax")
    return block


def _put(block, key, value, keypos, valpos, errors, what=None):
    if key in block:
        duplicate(errors, what or f"`{key}`", keypos, block.keypos[key])
        return False
    block.put(key, value, keypos, valpos)
    return True


class _Superclasses:
    """Superclasses resolved once each, to any depth; cycles and unknown names are errors."""

    def __init__(self, table, errors):
        self.table, self.errors = table, errors
        self.resolved = {}
        for name in table:
            self._resolved(name, table.keypos[name], ())

    def inherit(self, block, chain=()):
        if "superclass" not in block:
            return block
        parent = self._resolved(block["superclass"], block.where("superclass"), chain)
        own = block.without("superclass")
        return own if parent is None else merge(parent, own)

    def _resolved(self, name, where, chain):
        if name in chain:
            cycle = " -> ".join([*chain[chain.index(name) :], name])
            self.errors.add(where, f"superclass cycle: {cycle}", "superclass-cycle")
            return None
        if name in self.resolved:
            return self.resolved[name]
        if not isinstance(name, str) or name not in self.table:
            shown = name if isinstance(name, str) else "(none)"
            self.errors.add(where, f"unknown superclass {shown!r}", "unknown-superclass")
            return None
        self.resolved[name] = self.inherit(self.table[name], (*chain, name))
        return self.resolved[name]


def _global(block, errors, limits):
    """Split the global block into what stays, generated hosts and host defaults."""
    generators, host_plugins = plugins.generators(), plugins.host_plugins()
    generated, defaults = {}, {}
    for key, value in block.items():
        if key not in generators and key not in host_plugins:
            continue
        if not isinstance(value, dict):
            errors.add(block.keypos[key], f"`{key}` takes a block: `{key} {{ ... }}`", "plugin")
        elif key in generators:
            if _too_many(generators[key], value, block.keypos[key], errors, limits):
                continue
            for name, host in generators[key].generate(value, errors).items():
                if name in generated:
                    errors.add(block.keypos[key], f"host {name!r} is generated twice", "duplicate-key")
                generated[name] = host
        else:
            defaults[key] = value
    return block.without(*generators, *host_plugins), generated, defaults


def _too_many(plugin, block, where, errors, limits):
    """Refuse a generator's hosts before any is made: 200,000 hosts are refused, not built then counted."""
    planned = plugin.planned_hosts(block)
    if planned is not None and planned > limits.max_hosts:
        errors.add(
            where,
            f"`{plugin.keyword}` would make {planned} hosts: a project has at most {limits.max_hosts} "
            "(max_hosts in mln.conf)",
            "too-large",
        )
        return True
    return False


def _settings(block):
    return sum(1 + (_settings(value) if isinstance(value, dict) else 0) for value in block.values())


def _host_plugins(host, defaults, errors):
    """Merge the global defaults of host plugins under the host's own blocks, then check them."""
    for key, default in defaults.items():
        own = host.get(key)
        if isinstance(own, dict):
            host.put(key, merge(default, own), host.keypos.get(key), host.valpos.get(key))
        elif own is None:
            host.put(key, merge(Block(), default), default.pos)
    for key, plugin in plugins.host_plugins().items():
        if key in host:
            if isinstance(host[key], dict):
                plugin.check(host[key], errors)
            else:
                errors.add(host.keypos.get(key) or host.pos, f"`{key}` takes a block: `{key} {{ ... }}`", "plugin")
    return host
