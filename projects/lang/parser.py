"""Text -> syntax tree with positions, and `#include` splicing.

The tree is a list of Statement (words, and a body when a block follows) and
Include nodes. It keeps every word as written (`raw`) and as meant (`text`,
quotes and escapes removed), so the formatter can reprint a file unchanged
and resolve.py can give meaning to the words.
"""

import contextlib
import re
import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from cachetools import LRUCache
from lark import Lark, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from .errors import ErrorList, MlnError, MlnErrors, sorted_by_place
from .limits import Limits, shown_size
from .sources import IncludeError
from .spec import Position

MAX_INCLUDE_DEPTH = 16
MAX_BLOCK_DEPTH = 64  # deeper than any project; keeps the recursive stages far from Python's limit


@dataclass(slots=True)
class Word:
    text: str  # as meant: no quotes, escapes applied
    raw: str  # as written
    pos: Position
    quoted: bool = False
    broken: bool = False  # a variable in it could not be substituted; spares follow-on errors


@dataclass(slots=True)
class Statement:
    words: list
    body: list | None = None  # the block's statements; None for a plain statement
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
    size: int = 0  # about how many bytes the tree takes, for the parse cache


@dataclass
class _ParseState:
    filename: str
    errors: ErrorList
    comments: list
    words: int = 0


# The Lark object and its transformer are built once per process; the file
# being parsed reaches the transformer through this context variable instead
# of a new transformer per file, which would cost a tree per parse.
_state: ContextVar[_ParseState] = ContextVar("mln_parse_state")

_ESCAPE = re.compile(r'\\(["\\])')
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # as in mln.lark


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
    _state.get().words += 1
    raw = str(token)
    if token.type == "WORD":
        return Word(raw, raw, _position(token))
    if token.type == "BADQUOTE":
        _state.get().errors.add(
            _position(token), "a double quote opens a string that does not close on its line", "unterminated-string"
        )
        return Word(raw[1:], raw, _position(token), quoted=True)
    return Word(_ESCAPE.sub(r"\1", raw[1:-1]), raw, _position(token), quoted=True)


def _keep_comment(token):
    _state.get().comments.append((_position(token), str(token)))
    return token


@lru_cache(maxsize=1)
def _lark():
    grammar = (Path(__file__).with_name("mln.lark")).read_text()
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        transformer=_ToSyntaxTree(),
        lexer_callbacks={"COMMENT": _keep_comment},
        maybe_placeholders=False,
    )


def parse(text, filename="<string>"):
    """One file's Document; includes are left as Include nodes."""
    document = _parse_once(text, filename)
    return Document(document.statements, list(document.comments))


# A course expands the same master once per group (1,000 groups: 1,000
# parses of one text). Later stages never change a syntax tree, they build
# new Words and Statements, so one parse can serve every group; only the
# comment list is consumed (by the formatter), and parse() hands out a copy.
# The cache is bounded by the bytes its trees take, not by a count: 256 trees
# of 30 MB masters were 50 GiB.
WORD_BYTES = 400  # a Word, its Position and its share of a Statement (measured with tracemalloc)
_cache = LRUCache(maxsize=Limits().parse_cache_bytes, getsizeof=lambda document: document.size)
_cache_lock = threading.Lock()


def set_parse_cache_bytes(size):
    """Bound the per-process parse cache (mln.conf `parse_cache_bytes`); 0 turns it off."""
    global _cache
    with _cache_lock:
        if _cache.maxsize != size:
            _cache = LRUCache(maxsize=size, getsizeof=lambda document: document.size)


def _parse_once(text, filename):
    key = (text, filename)
    with _cache_lock:
        document = _cache.get(key)
    if document is None:
        document = _parse_uncached(text, filename)
        # Larger than the whole cache (ValueError): parse it again next time.
        with _cache_lock, contextlib.suppress(ValueError):
            _cache[key] = document
    return document


def clear_parse_cache():
    with _cache_lock:
        _cache.clear()


def _parse_uncached(text, filename):
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
    return Document(statements, state.comments, 2 * len(text) + WORD_BYTES * state.words)


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
    if isinstance(exc, UnexpectedCharacters) and _CONTROL.match(exc.char):
        return MlnError(
            filename,
            line,
            col,
            f"control character U+{ord(exc.char):04X} is not allowed in a word or string",
            "control-character",
        )
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


def parse_file(text, filename, sources, limits=Limits()):
    """A file's statements with every `#include` spliced in, positions kept."""
    errors = ErrorList()
    set_parse_cache_bytes(limits.parse_cache_bytes)
    too_large = _too_large(text, limits)
    if too_large:
        raise MlnError(filename, 1, 1, f"{filename} is {too_large}", "too-large")
    statements = parse(text, filename).statements
    statements = _Splicer(sources, limits, errors).splice(statements, [filename])
    errors.raise_if_any()
    return statements


def _too_large(text, limits):
    """Why `text` is over max_upload, or None."""
    size = len(text) if len(text) > limits.max_upload else len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_upload:
        return (
            f"{shown_size(size)}: a .mln file may have at most {shown_size(limits.max_upload)} (max_upload in mln.conf)"
        )
    return None


class _Splicer:
    """Splices includes in, counting statements as it goes.

    The count is taken while splicing, so ten includes of a file that
    includes another ten times (and so on) stop at max_statements instead of
    being made first: the tree never grows past the limit.
    """

    def __init__(self, sources, limits, errors):
        self.sources, self.limits, self.errors = sources, limits, errors
        self.count = 0

    def splice(self, statements, stack):
        spliced = []
        for node in statements:
            self._count(node)
            if isinstance(node, Include):
                spliced.extend(self._included(node, stack))
            elif node.body is not None:
                spliced.append(Statement(node.words, self.splice(node.body, stack), node.close))
            else:
                spliced.append(node)
        return spliced

    def _count(self, node):
        # An #include counts too: includes of empty files must not fan out for free.
        self.count += 1
        if self.count > self.limits.max_statements:
            self.errors.add(
                node.pos,
                f"the project has more than {self.limits.max_statements} statements after "
                "#include splicing (max_statements in mln.conf)",
                "too-large",
            )
            raise MlnErrors(sorted_by_place(self.errors.errors))

    def _included(self, node, stack):
        path = node.path.text
        if len(stack) > MAX_INCLUDE_DEPTH:
            self.errors.add(node.pos, f"includes nest deeper than {MAX_INCLUDE_DEPTH} at {path!r}", "include-depth")
            return []
        try:
            name, text = self.sources.read(path, stack[-1])
        except IncludeError as exc:
            self.errors.add(node.pos, str(exc), exc.kind)
            return []
        if name in stack:
            chain = " -> ".join([*stack[stack.index(name) :], name])
            self.errors.add(node.pos, f"include cycle: {chain}", "include-cycle")
            return []
        too_large = _too_large(text, self.limits)
        if too_large:
            self.errors.add(node.pos, f"included file {path!r} is {too_large}", "too-large")
            return []
        try:
            statements = parse(text, name).statements
        except MlnErrors as exc:
            self.errors.extend(exc.errors)
            return []
        return self.splice(statements, [*stack, name])


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
