"""Variables: `$name = value` definitions, and `$name`, `$[name]`, `$$` in words.

All definitions are collected before any substitution, so a use may come
before its definition. Values from the caller (a course's variable table,
`--var`) win over the file's definitions and are taken literally.
"""

import re

from .errors import MlnError
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
    def __init__(self, statements, caller, errors):
        self.errors = errors
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
                    self.errors.errors.append(MlnError.at(
                        statement.pos, f"variable ${name} is defined twice (first at {first.pos})",
                        "duplicate-variable", name))
                else:
                    self.definitions[name] = statement
            elif statement.body is not None:
                self._collect(statement.body)

    def _value(self, name):
        if name in self.values:
            return self.values[name]
        if name in self._visiting:
            cycle = " -> ".join(f"${n}" for n in [*self._visiting[self._visiting.index(name):], name])
            self.errors.errors.append(MlnError.at(
                self.definitions[name].pos, f"variable cycle: {cycle}", "variable-cycle", name))
            self.values[name] = _BROKEN
            return _BROKEN
        self._visiting.append(name)
        words = [self.word(w) for w in self.definitions[name].words[2:]]
        self._visiting.pop()
        if name not in self.values:  # a cycle through it has already marked it broken
            broken = any(w.broken for w in words)
            self.values[name] = _BROKEN if broken else " ".join(w.text for w in words)
        return self.values[name]

    def word(self, word):
        """The word with every variable replaced; errors are at the place of use."""
        if "$" not in word.text:
            return word
        broken = False
        parts = []
        position = 0
        for match in _REFERENCE.finditer(word.text):
            parts.append(word.text[position:match.start()])
            position = match.end()
            literal, bracketed, plain = match.groups()
            if literal:
                parts.append("$")
                continue
            name = bracketed or plain
            where = _at(word, match.start())
            if name is None:
                self.errors.errors.append(MlnError.at(
                    where, "`$` must be followed by a variable name, `[name]` or `$` (write `$$` for a dollar sign)",
                    "bad-variable"))
                broken = True
                continue
            value = self._lookup(name, where)
            if value is _BROKEN:
                broken = True
                parts.append(match.group(0))
            else:
                parts.append(value)
        parts.append(word.text[position:])
        return Word("".join(parts), word.raw, word.pos, word.quoted, broken or word.broken)

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
