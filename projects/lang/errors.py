"""Errors of the .mln language, each carrying file, line and column.

Every error has a stable `kind` (the list is KINDS) so callers can act on it
without parsing messages: the courses layer maps an "undefined-variable"
error's `name` to the missing column of its variable table.
"""

from dataclasses import dataclass

MAX_ERRORS = 50


@dataclass(frozen=True)
class Position:
    """Where something is written: a file, its line and column (1-based)."""

    file: str
    line: int
    col: int

    def __str__(self):
        return f"{self.file}:{self.line}:{self.col}"


KINDS = {
    "unreadable-file": "a file given or included cannot be read",
    "syntax": "braces or statements out of place",
    "unterminated-string": "a double quote that does not close on its line",
    "include-not-found": "an included file that does not exist",
    "include-outside-roots": "an include path that leaves the include roots",
    "include-cycle": "a file that includes itself, directly or not",
    "include-depth": "includes nested deeper than 16",
    "bad-variable": "a `$` not followed by a name, `[name]` or `$`",
    "undefined-variable": "a use of a variable that is defined nowhere",
    "duplicate-variable": "a variable defined twice",
    "variable-cycle": "variables whose definitions use each other",
    "duplicate-key": "a key or named sub-block set twice in one block",
    "unknown-block": "a top-level statement that is not global, host, switch or superclass",
    "invalid-name": "a host, switch or superclass name with other than letters, digits, hyphens",
    "unknown-superclass": "a superclass statement naming no superclass",
    "superclass-cycle": "superclasses that inherit from each other",
    "plugin": "a plugin block that the plugin cannot use",
    "address-outside-net": "an autoenum address outside its net",
    "missing-project": "no `project` after expansion",
    "unknown-switch": "a network block naming a switch that is not defined",
    "bad-size": "memory, size or free_space that is not a number with a unit",
    "bad-address": "an address that is not dhcp, auto or an IPv4 address",
    "bad-netmask": "a netmask that is not a dotted quad",
    "bad-value": "a setting whose value cannot be used (a number, a password)",
    "control-character": "a NUL or other control character in a word or string",
    "too-large": "an input beyond a limit of mln.conf (file size, statements, value length, expansion, hosts)",
}


class MlnError(Exception):
    """One error at one place: `FILE:LINE:COL: error: MESSAGE`."""

    def __init__(self, file, line, col, message, kind="syntax", name=None):
        super().__init__(message)
        self.file, self.line, self.col = file, line, col
        self.message = message
        self.kind = kind
        self.name = name  # the variable of an "undefined-variable" error

    @classmethod
    def at(cls, position, message, kind, name=None):
        return cls(position.file, position.line, position.col, message, kind, name)

    @property
    def position(self):
        return Position(self.file, self.line, self.col)

    def __str__(self):
        return f"{self.file}:{self.line}:{self.col}: error: {self.message}"

    def __reduce__(self):
        return (type(self), (self.file, self.line, self.col, self.message, self.kind, self.name))


class MlnErrors(MlnError):
    """Several independent errors (at most MAX_ERRORS); reads as the first one."""

    def __init__(self, errors):
        flat = []
        for error in errors:
            flat.extend(error.errors if isinstance(error, MlnErrors) else [error])
        self.errors = flat[:MAX_ERRORS]
        first = self.errors[0]
        super().__init__(first.file, first.line, first.col, first.message, first.kind, first.name)

    def __str__(self):
        return "\n".join(MlnError.__str__(e) for e in self.errors)

    def __reduce__(self):
        return (type(self), (self.errors,))


class ErrorList:
    """Collects the errors of one stage so all of them are reported, not the first."""

    def __init__(self):
        self.errors = []

    def add(self, position, message, kind, name=None):
        self.errors.append(MlnError.at(position, message, kind, name))

    def extend(self, errors):
        self.errors.extend(errors)

    def __bool__(self):
        return bool(self.errors)

    def raise_if_any(self):
        if self.errors:
            raise MlnErrors(sorted_by_place(self.errors))


def sorted_by_place(errors):
    """In reading order: files as first met, then line and column."""
    files = {}
    for error in errors:
        files.setdefault(error.file, len(files))
    return sorted(errors, key=lambda e: (files[e.file], e.line, e.col))
