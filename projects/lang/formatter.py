"""`mln fmt`: one statement a line, four-space indent, comments kept.

Words are reprinted as written (quotes and `=` included), so formatting
never changes what a file means; blank lines between statements survive,
collapsed to one. Formatting a formatted file changes nothing.
"""

import re

from .parser import Include, parse

INDENT = "    "
_BARE = re.compile(r'[^\s{};"#][^\s{};]*\Z')


def format(text, filename="<string>"):
    document = parse(text, filename)
    return write(document.statements, document.comments)


def write(statements, comments=()):
    """Text of a syntax tree (as parser.parse returns), with the comments put back where they were."""
    writer = _Writer(comments)
    writer.body(statements, 0)
    writer.comments_before(None, 0)
    return "\n".join(writer.lines) + "\n" if writer.lines else ""


def quote(text):
    """A word as it must be written to read back as `text`."""
    if _BARE.match(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Writer:
    def __init__(self, comments):
        self.comments = sorted(comments, key=lambda c: (c[0].line, c[0].col))
        self.lines = []
        self.source_line = 0  # the source line of the last token written
        self.block_start = True  # no blank line right after `{`

    def body(self, statements, depth):
        for node in statements:
            self.comments_before(node.pos, depth)
            if isinstance(node, Include):
                self.line(depth, f"#include {node.path.raw}", node.pos.line, node.path.pos.line)
            elif node.body is None:
                self.line(depth, " ".join(w.raw for w in node.words), node.pos.line, node.words[-1].pos.line)
            else:
                self.block(node, depth)

    def block(self, node, depth):
        header = " ".join(w.raw for w in node.words)
        if not node.body and not self._comment_before(node.close):
            self.line(depth, header + " { }", node.pos.line, node.close.line)
            return
        self.line(depth, header + " {", node.pos.line, node.words[-1].pos.line)
        self.block_start = True
        self.body(node.body, depth + 1)
        self.comments_before(node.close, depth + 1)
        self.block_start = True  # no blank line before `}` either
        self.line(depth, "}", node.close.line, node.close.line)

    def comments_before(self, pos, depth):
        while self._comment_before(pos):
            where, text = self.comments.pop(0)
            if self.lines and where.line == self.source_line:
                self.lines[-1] += " " + text  # it trailed the statement on its line
            else:
                self.line(depth, text, where.line, where.line)

    def _comment_before(self, pos):
        if not self.comments:
            return False
        where = self.comments[0][0]
        return pos is None or (where.line, where.col) < (pos.line, pos.col)

    def line(self, depth, text, first, last):
        if self.lines and not self.block_start and first > self.source_line + 1:
            self.lines.append("")
        self.lines.append(INDENT * depth + text)
        self.source_line = last
        self.block_start = False
