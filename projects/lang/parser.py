"""Text -> syntax tree with positions, and `#include` splicing.

The tree is a list of Statement (words, and a body when a block follows) and
Include nodes. It keeps every word as written (`raw`) and as meant (`text`,
quotes and escapes removed), so the formatter can reprint a file unchanged
and resolve.py can give meaning to the words.
"""

import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from lark import Lark, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from .errors import ErrorList, MlnError, MlnErrors
from .sources import IncludeError
from .spec import Position

MAX_INCLUDE_DEPTH = 16
MAX_BLOCK_DEPTH = 64  # deeper than any project; keeps the recursive stages far from Python's limit


@dataclass(slots=True)
class Word:
    text: str      # as meant: no quotes, escapes applied
    raw: str       # as written
    pos: Position
    quoted: bool = False
    broken: bool = False  # a variable in it could not be substituted; spares follow-on errors


@dataclass(slots=True)
class Statement:
    words: list
    body: list | None = None      # the block's statements; None for a plain statement
    close: Position | None = None  # the block's "}", for the formatter

    @property
    def pos(self):
        return self.words[0].pos

    @property
    def key(self):
        return self.words[0].text


@dataclass(slots=True)
class Include:
    path: Word
    pos: Position


@dataclass
class Document:
    statements: list
    comments: list = field(default_factory=list)  # (Position, text), for the formatter


@dataclass
class _ParseState:
    filename: str
    errors: ErrorList
    comments: list


# The Lark object and its transformer are built once per process; the file
# being parsed reaches the transformer through this context variable instead
# of a new transformer per file, which would cost a tree per parse.
_state: ContextVar[_ParseState] = ContextVar("mln_parse_state")

_ESCAPE = re.compile(r'\\(["\\])')


class _ToSyntaxTree(Transformer):
    """One method per rule of mln.lark; punctuation never reaches here."""

    def start(self, children):
        return children[0]

    def body(self, children):
        return children

    def words(self, tokens):
        return [_word(token) for token in tokens]

    def simple(self, children):
        return Statement(children[0])

    def compound(self, children):
        words, _lbrace, body, rbrace = children
        return Statement(words, body, _position(rbrace))

    def include(self, children):
        directive, path = children
        return Include(_word(path), _position(directive))


def _position(token):
    return Position(_state.get().filename, token.line, token.column)


def _word(token):
    raw = str(token)
    if token.type == "WORD":
        return Word(raw, raw, _position(token))
    if token.type == "BADQUOTE":
        _state.get().errors.add(_position(token), "a double quote opens a string that does not close on its line",
                                "unterminated-string")
        return Word(raw[1:], raw, _position(token), quoted=True)
    return Word(_ESCAPE.sub(r"\1", raw[1:-1]), raw, _position(token), quoted=True)


def _keep_comment(token):
    _state.get().comments.append((_position(token), str(token)))
    return token


@lru_cache(maxsize=1)
def _lark():
    grammar = (Path(__file__).with_name("mln.lark")).read_text()
    return Lark(grammar, parser="lalr", lexer="contextual", transformer=_ToSyntaxTree(),
                lexer_callbacks={"COMMENT": _keep_comment}, maybe_placeholders=False)


def parse(text, filename="<string>"):
    """One file's Document; includes are left as Include nodes."""
    document = _parse_once(text, filename)
    return Document(document.statements, list(document.comments))


# A course expands the same master once per group (1,000 groups: 1,000
# parses of one text). Later stages never change a syntax tree, they build
# new Words and Statements, so one parse can serve every group; only the
# comment list is consumed (by the formatter), and parse() hands out a copy.
@lru_cache(maxsize=256)
def _parse_once(text, filename):
    state = _ParseState(filename, ErrorList(), [])
    token = _state.set(state)
    try:
        statements = _lark().parse(text)
    except UnexpectedInput as exc:
        # One syntax error per file: after a brace is out of place, what
        # follows cannot be told apart from the consequences.
        state.errors.errors.append(_syntax_error(exc, filename))
        statements = []
    finally:
        _state.reset(token)
    _check_depth(statements, state.errors)
    state.errors.raise_if_any()
    return Document(statements, state.comments)


def _check_depth(statements, errors):
    pending = [(statements, 1)]
    while pending:
        body, depth = pending.pop()
        for node in body:
            if isinstance(node, Statement) and node.body is not None:
                if depth > MAX_BLOCK_DEPTH:
                    errors.add(node.pos, f"blocks nest deeper than {MAX_BLOCK_DEPTH}", "syntax")
                    return
                pending.append((node.body, depth + 1))


def _syntax_error(exc, filename):
    line, col = max(exc.line, 1), max(exc.column, 1)
    if isinstance(exc, UnexpectedCharacters):
        return MlnError(filename, line, col, f"unexpected character {exc.char!r}", "syntax")
    if not isinstance(exc, UnexpectedToken):
        return MlnError(filename, line, col, "syntax error", "syntax")
    stack = exc.interactive_parser.parser_state.value_stack
    found = exc.token.type
    if stack and getattr(stack[-1], "type", None) == "INCLUDE":
        message = "`#include` needs a path"
    elif found == "$END":
        return _unclosed_block(stack, filename) or MlnError(filename, line, col, "unexpected end of file", "syntax")
    elif found == "RBRACE":
        message = "unexpected `}`: no block is open here"
    elif found == "LBRACE":
        message = "a block needs a key before `{`"
    else:
        message = f"unexpected {str(exc.token)!r}"
    return MlnError(filename, line, col, message, "syntax")


def _unclosed_block(stack, filename):
    """Point at the innermost block that the end of the file leaves open."""
    for index in range(len(stack) - 1, 0, -1):
        if getattr(stack[index], "type", None) == "LBRACE" and isinstance(stack[index - 1], list):
            words = stack[index - 1]
            header = " ".join(w.raw for w in words)
            return MlnError.at(words[0].pos, f"block `{header}` is not closed: a `}}` is missing", "syntax")
    return None


def parse_file(text, filename, sources):
    """A file's statements with every `#include` spliced in, positions kept."""
    errors = ErrorList()
    statements = parse(text, filename).statements
    statements = _splice(statements, sources, [filename], errors)
    errors.raise_if_any()
    return statements


def _splice(statements, sources, stack, errors):
    spliced = []
    for node in statements:
        if isinstance(node, Include):
            spliced.extend(_included(node, sources, stack, errors))
        elif node.body is not None:
            spliced.append(Statement(node.words, _splice(node.body, sources, stack, errors), node.close))
        else:
            spliced.append(node)
    return spliced


def _included(node, sources, stack, errors):
    path = node.path.text
    if len(stack) > MAX_INCLUDE_DEPTH:
        errors.add(node.pos, f"includes nest deeper than {MAX_INCLUDE_DEPTH} at {path!r}", "include-depth")
        return []
    try:
        name, text = sources.read(path, stack[-1])
    except IncludeError as exc:
        errors.add(node.pos, str(exc), exc.kind)
        return []
    if name in stack:
        chain = " -> ".join([*stack[stack.index(name):], name])
        errors.add(node.pos, f"include cycle: {chain}", "include-cycle")
        return []
    try:
        statements = parse(text, name).statements
    except MlnErrors as exc:
        errors.extend(exc.errors)
        return []
    return _splice(statements, sources, [*stack, name], errors)


def parse_statements(text, filename="<string>"):
    """Flat `key value` statements (mln.conf): repeated keys allowed, no blocks."""
    result = []
    errors = ErrorList()
    for node in parse(text, filename).statements:
        if isinstance(node, Include):
            errors.add(node.pos, "`#include` is not allowed in this file", "syntax")
        elif node.body is not None:
            errors.add(node.pos, f"a block (`{node.key} {{ }}`) is not allowed in this file", "syntax")
        else:
            values = [w.text for w in node.words[1:]]
            if values and values[0] == "=" and not node.words[1].quoted:
                values = values[1:]
            result.append((node.key, " ".join(values) if values else True, node.pos))
    errors.raise_if_any()
    return result
