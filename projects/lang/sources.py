"""Where `#include` finds its files.

Two kinds of sources share one method, `read(path, including)`, returning
the name to report positions under and the text:

- DirectorySources(roots): the filesystem, for the command line. Roots are
  the folder of the `-f` file plus every `--include-dir`.
- MemorySources(files): a course uploaded through the web, whose files are a
  mapping of relative names to texts; nothing outside it can be included.
"""

import io
import os
import posixpath

from .errors import MlnError
from .limits import shown_size


class IncludeError(Exception):
    """Raised by sources; parser.py turns it into an MlnError at the directive."""

    def __init__(self, message, kind):
        super().__init__(message)
        self.kind = kind


class DirectorySources:
    def __init__(self, roots, max_bytes=None):
        self.roots = [os.path.realpath(r) for r in roots]
        self.max_bytes = max_bytes  # max_upload: a file beyond it is refused before it is read

    def read(self, path, including):
        if os.path.isabs(path):
            candidates = [os.path.join(root, path.lstrip("/")) for root in self.roots]
        else:
            candidates = [os.path.join(os.path.dirname(including), path)]
        for candidate in candidates:
            real = os.path.realpath(candidate)
            if not any(_inside(real, root) for root in self.roots):
                raise IncludeError(f"include path {path!r} leaves the include roots", "include-outside-roots")
            if os.path.isfile(real):
                return os.path.normpath(candidate), _read_text(real, path, self.max_bytes)
        raise IncludeError(f"included file {path!r} not found", "include-not-found")

    def read_root(self, path):
        """The file given with `-f`: a clear error, not a traceback, when unreadable."""
        try:
            return _read_text(path, path, self.max_bytes)
        except IncludeError as exc:
            kind = exc.kind if exc.kind == "too-large" else "unreadable-file"
            raise MlnError(path, 1, 1, str(exc), kind) from None


class MemorySources:
    def __init__(self, files):
        self.files = {posixpath.normpath(name.lstrip("/")): text for name, text in files.items()}

    def read(self, path, including):
        if path.startswith("/"):
            name = posixpath.normpath(path.lstrip("/"))
        else:
            name = posixpath.normpath(posixpath.join(posixpath.dirname(including), path))
        if name == ".." or name.startswith("../"):
            raise IncludeError(f"include path {path!r} leaves the course's files", "include-outside-roots")
        if name not in self.files:
            raise IncludeError(f"included file {path!r} not found among the course's files", "include-not-found")
        return name, self.files[name]


class NoSources:
    """For text given without any files beside it: every include is an error."""

    def read(self, path, including):
        raise IncludeError(f"included file {path!r} not found (no include sources)", "include-not-found")


def _inside(path, root):
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _read_text(real, shown, max_bytes=None):
    try:
        with open(real, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if max_bytes is not None and size > max_bytes:
                raise IncludeError(
                    f"file {shown!r} is {shown_size(size)}: a .mln file may have at most "
                    f"{shown_size(max_bytes)} (max_upload in mln.conf)",
                    "too-large",
                )
            return io.TextIOWrapper(f, encoding="utf-8").read()  # universal newlines, as open() in text mode
    except FileNotFoundError:
        raise IncludeError(f"file {shown!r} not found", "include-not-found") from None
    except UnicodeDecodeError:
        raise IncludeError(f"file {shown!r} is not UTF-8 text", "unreadable-file") from None
    except OSError as exc:
        raise IncludeError(f"cannot read {shown!r}: {exc.strerror}", "unreadable-file") from None
