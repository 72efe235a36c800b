"""The .mln language: parse, resolve, check. No Django here.

    tree = load("italy.mln")              # the resolved tree, as `mln expand` prints it
    spec = build_spec(tree)               # typed ProjectSpec, units in bytes, checks run
    notes = check(tree)                   # remarks that are not errors

Every error is an MlnError (several at once: MlnErrors, with `.errors`).
`limits=Limits(...)` bounds what an input may make the language do (file
sizes, statements, variables' expansion, hosts); the defaults are mln.conf's.
"""

import os

from .errors import KINDS, MlnError, MlnErrors
from .formatter import format
from .limits import Limits
from .notes import check
from .parser import parse_file, parse_statements
from .resolve import resolve
from .sources import DirectorySources, MemorySources, NoSources
from .spec import PROJECT_NAME, HostSpec, InterfaceSpec, Position, ProjectSpec, SwitchSpec, build_spec

__all__ = [
    "load",
    "loads",
    "build_spec",
    "check",
    "parse_statements",
    "format",
    "MlnError",
    "MlnErrors",
    "KINDS",
    "Position",
    "DirectorySources",
    "MemorySources",
    "Limits",
    "PROJECT_NAME",
    "ProjectSpec",
    "HostSpec",
    "InterfaceSpec",
    "SwitchSpec",
]


def load(path, variables=None, include_dirs=(), limits=Limits()):
    """Resolve the file at `path`; includes come from its folder and `include_dirs`."""
    path = os.fspath(path)
    sources = DirectorySources([os.path.dirname(path) or ".", *map(os.fspath, include_dirs)], limits.max_upload)
    return loads(sources.read_root(path), filename=path, variables=variables, sources=sources, limits=limits)


def loads(text, filename="<string>", variables=None, sources=None, limits=Limits()):
    """Resolve `text`; `sources` says where includes come from (none by default).

    With MemorySources, `filename` is the text's own name among the sources,
    so its relative includes are found beside it.
    """
    statements = parse_file(text, filename, sources or NoSources(), limits)
    return resolve(statements, filename, variables, limits)
