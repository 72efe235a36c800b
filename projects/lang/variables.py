"""Variables: `$name = value` definitions, and `$name`, `$[name]`, `$$` in words.

All definitions are collected before any substitution, so a use may come
before its definition. Values from the caller (a course's variable table,
`--var`) win over the file's definitions and are taken literally.

Substitution is bounded while it runs: no value or word grows past
max_value_length, and all substitutions of a project together make at most
max_expansion characters, so variables that double each other stop after a
few steps instead of asking for gigabytes.
"""

import re

from .errors import MlnError, MlnErrors, sorted_by_place
from .limits import Limits
from .parser import Statement, Word
from .spec import Position

NAME = re.compile(r"[A-Za-z0-9_]+\Z")
_DEFINITION = re.compile(r"\$(?:\[([A-Za-z0-9_]+)\]|([A-Za-z0-9_]+))\Z")
_REFERENCE = re.compile(r"\$(?:(\$)|\[([A-Za-z0-9_]+)\]|([A-Za-z0-9_]+))?")
_BROKEN = object()  # a variable whose own definition failed: its uses add no error


def definition_name(statement):
    """The variable a statement defines (`$name = ...`), or None."""
    words = statement.words
    if statement.body is None and len(words) >= 2 and words[1].raw == "=" and not words[0].quoted:
        match = _DEFINITION.match(words[0].text)
        if match:
            return match.group(1) or match.group(2)
    return None


class Variables:
    def __init__(self, statements, caller, errors, limits=Limits()):
        self.errors = errors
        self.limits = limits
        self.expanded = 0  # characters made by substitution so far, against max_expansion
        self.definitions = {}
        self.values = {name: str(value) for name, value in (caller or {}).items()}
        self._visiting = []
        self._collect(statements)
        for name in self.definitions:
            self._value(name)

    def _collect(self, statements):
        for statement in statements:
            name = definition_name(statement)
            if name is not None:
                first = self.definitions.get(name)
                if first is not None:
                    self.errors.errors.append(
                        MlnError.at(
                            statement.pos,
                            f"variable ${name} is defined twice (first at {first.pos})",
                            "duplicate-variable",
                            name,
                        )
                    )
                else:
                    self.definitions[name] = statement
            elif statement.body is not None:
                self._collect(statement.body)

    def _value(self, name):
        if name in self.values:
            return self.values[name]
        if name in self._visiting:
            cycle = " -> ".join(f"${n}" for n in [*self._visiting[self._visiting.index(name) :], name])
            self.errors.errors.append(
                MlnError.at(self.definitions[name].pos, f"variable cycle: {cycle}", "variable-cycle", name)
            )
            self.values[name] = _BROKEN
            return _BROKEN
        self._visiting.append(name)
        words = [self.word(w) for w in self.definitions[name].words[2:]]
        self._visiting.pop()
        if name not in self.values:  # a cycle through it has already marked it broken
            broken = any(w.broken for w in words)
            self.values[name] = _BROKEN if broken else self._bounded_value(name, words)
        return self.values[name]

    def _bounded_value(self, name, words):
        length = sum(len(w.text) for w in words) + len(words) - 1
        if length > self.limits.max_value_length:
            self.errors.errors.append(
                MlnError.at(
                    self.definitions[name].pos,
                    f"the value of ${name} is {length} characters long: at most "
                    f"{self.limits.max_value_length} (max_value_length in mln.conf)",
                    "too-large",
                    name,
                )
            )
            return _BROKEN
        return " ".join(w.text for w in words)

    def word(self, word):
        """The word with every variable replaced; errors are at the place of use."""
        if "$" not in word.text:
            return word
        broken = False
        parts = []
        length = 0  # of parts, checked before each value is added so no word outgrows the limit
        position = 0
        for match in _REFERENCE.finditer(word.text):
            parts.append(word.text[position : match.start()])
            length += match.start() - position
            position = match.end()
            literal, bracketed, plain = match.groups()
            if literal:
                parts.append("$")
                continue
            name = bracketed or plain
            where = _at(word, match.start())
            if name is None:
                self.errors.errors.append(
                    MlnError.at(
                        where,
                        "`$` must be followed by a variable name, `[name]` or `$` (write `$$` for a dollar sign)",
                        "bad-variable",
                    )
                )
                broken = True
                continue
            value = self._lookup(name, where)
            if value is _BROKEN:
                broken = True
                parts.append(match.group(0))
                continue
            length += len(value)
            if length > self.limits.max_value_length:
                self.errors.add(
                    word.pos,
                    f"this word is longer than {self.limits.max_value_length} characters "
                    "once its variables are substituted (max_value_length in mln.conf)",
                    "too-large",
                )
                return Word(word.text, word.raw, word.pos, word.quoted, True)
            self._spend(len(value), where)
            parts.append(value)
        parts.append(word.text[position:])
        return Word("".join(parts), word.raw, word.pos, word.quoted, broken or word.broken)

    def _spend(self, characters, where):
        """Count substituted characters; past max_expansion, stop at once: going on is what the limit prevents."""
        self.expanded += characters
        if self.expanded > self.limits.max_expansion:
            self.errors.add(
                where,
                f"variables expand to more than {self.limits.max_expansion} characters in this "
                "project (max_expansion in mln.conf)",
                "too-large",
            )
            raise MlnErrors(sorted_by_place(self.errors.errors))

    def _lookup(self, name, where):
        if name in self.values or name in self.definitions:
            return self._value(name)
        self.errors.errors.append(MlnError.at(where, f"undefined variable ${name}", "undefined-variable", name))
        return _BROKEN

    def statements(self, statements):
        """Substituted statements, without the definitions, which have done their work."""
        result = []
        for statement in statements:
            if definition_name(statement) is not None:
                continue
            words = [self.word(w) for w in statement.words]
            body = None if statement.body is None else self.statements(statement.body)
            result.append(Statement(words, body, statement.close))
        return result


def _at(word, offset):
    # Inside quotes the offset counts the opening quote; escapes before the
    # `$` would shift it by one each, which is close enough to point at it.
    return Position(word.pos.file, word.pos.line, word.pos.col + offset + (1 if word.quoted else 0))
