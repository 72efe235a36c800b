"""`mln course expand`: a master .mln and a variable table -> one project file per group.

No database: this is the course expansion of the web pages, run on files.
With `-o DIR` it writes `<project>.mln` for every group and a copy of the
master and every file it includes beside them, so `mln expand -f
DIR/<project>.mln` gives the same project. Without `-o` nothing is written.

Imports inside the verbs are deliberate: `mln` imports this module to build its
parser before `django.setup()` (projects/cli/__init__.py), so whatever reaches
Django's models is imported once a verb runs, after app loading.
"""

import json
import os
import posixpath
import re
import sys

from projects.cli import CommandError, verb

INCLUDE_LINE = re.compile(r'^[ \t]*#include[ \t]+"?([^"\s]+)"?', re.MULTILINE)


def register(verbs):
    course = verb(verbs, "course", run_usage, help="courses: one master .mln and a variable table")
    course_verbs = course.add_subparsers(dest="course_verb", metavar="VERB")
    expand = verb(course_verbs, "expand", run_expand, help="expand a master for every row of a variable table")
    expand.add_argument("-m", dest="master", metavar="MASTER", required=True, help="the master .mln")
    expand.add_argument("-t", dest="table", metavar="TABLE", required=True, help="the variable table (CSV or XLSX)")
    expand.add_argument(
        "-o", dest="output", metavar="DIR", help="write the group files here (nothing written without it)"
    )
    expand.add_argument(
        "--include-dir",
        dest="include_dirs",
        metavar="D",
        action="append",
        default=[],
        help="a root for absolute #include paths (repeatable)",
    )
    expand.add_argument("--json", action="store_true", help="print the expansions as a JSON list, in row order")
    expand.add_argument(
        "--course", metavar="NAME", help="the course's short name ($course); default: the master's name"
    )
    course.set_defaults(course_parser=course)


def run_usage(args):
    args.course_parser.print_usage(sys.stderr)
    print("mln course: error: a verb is required (expand)", file=sys.stderr)
    return 2


def run_expand(args):
    from projects.cli.lifecycle import load_conf
    from projects.courses import CourseError, expand_course, limits_from_conf
    from projects.variable_table import read_table

    course = args.course or re.sub(r"[^A-Za-z0-9-]+", "-", os.path.splitext(os.path.basename(args.master))[0])
    master_name = os.path.basename(args.master)
    files = {}
    limits = limits_from_conf(load_conf(args))  # the same bounds as an upload to the web site
    try:
        files = course_files(args.master, args.include_dirs, limits.max_upload)
        table = read_table(args.table, _read_bytes(args.table, limits.max_table_upload), limits)
        expansion = expand_course(course, master_name, files, table, limits=limits)
    except CourseError as exc:
        shown = os.path.dirname(args.master)
        for problem in exc.problems:
            # Name .mln files as the user finds them, beside the master given.
            name = os.path.join(shown, problem.file) if problem.file in files else problem.file
            print(f"{name}:{problem.line}:{problem.col}: error: {problem.message}", file=sys.stderr)
        return 1
    if args.output:
        write_files(args.output, expansion.output_files())
    if args.json:
        json.dump([g.to_json() for g in expansion.groups], sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        where = f" -> {os.path.join(args.output, '')}" if args.output else ""
        sys.stdout.writelines(f"{g.summary()}{where}{g.source_name if where else ''}\n" for g in expansion.groups)
    return 0


def course_files(master, include_dirs, max_bytes=None):
    """name -> text of the master and every file it includes, found the way `mln expand -f` finds them.

    Names are relative to the master's folder (absolute include paths lose
    their leading `/`), which is how the course is laid out when written.
    A file that cannot be found is left out: the expansion reports it at
    its `#include` line, with position.
    """
    from projects.lang import DirectorySources
    from projects.lang.sources import IncludeError
    from projects.variable_table import CourseError, Problem

    root = os.path.dirname(os.path.abspath(master))
    sources = DirectorySources([root, *include_dirs], max_bytes)
    master_name = os.path.basename(master)
    files = {master_name: _read_text(master, max_bytes)}
    pending = [master_name]
    while pending:
        name = pending.pop()
        for match in INCLUDE_LINE.finditer(files[name]):
            path = match[1]
            included = posixpath.normpath(
                path.lstrip("/") if path.startswith("/") else posixpath.join(posixpath.dirname(name), path)
            )
            if included in files:
                continue
            try:
                _, files[included] = sources.read(path, os.path.join(root, name))
            except IncludeError as exc:
                if exc.kind == "too-large":
                    line = files[name].count("\n", 0, match.start(1)) + 1
                    raise CourseError([Problem(name, line, 1, str(exc))]) from None
                continue
            pending.append(included)
    return files


def write_files(directory, files):
    try:
        for name, text in files.items():
            path = os.path.join(directory, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    except OSError as exc:
        raise CommandError(f"cannot write {exc.filename}: {exc.strerror}") from None


def _read_text(path, max_bytes=None):
    from projects.lang.limits import shown_size
    from projects.variable_table import CourseError, Problem

    try:
        with open(path, encoding="utf-8") as f:
            size = os.fstat(f.fileno()).st_size
            if max_bytes is not None and size > max_bytes:
                raise CourseError(
                    [
                        Problem(
                            path,
                            1,
                            1,
                            f"the master is {shown_size(size)}: a .mln file may have at "
                            f"most {shown_size(max_bytes)} (max_upload in mln.conf)",
                        )
                    ]
                )
            return f.read()
    except UnicodeDecodeError:
        raise CourseError([Problem(path, 1, 1, "the master is not UTF-8 text")]) from None
    except OSError as exc:
        raise CourseError([Problem(path, 1, 1, f"cannot read the master: {exc.strerror}")]) from None


def _read_bytes(path, max_bytes=None):
    from projects.lang.limits import shown_size
    from projects.variable_table import CourseError, Problem

    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if max_bytes is not None and size > max_bytes:
                raise CourseError(
                    [
                        Problem(
                            path,
                            1,
                            1,
                            f"the table is {shown_size(size)}: at most "
                            f"{shown_size(max_bytes)} (max_table_upload in mln.conf)",
                        )
                    ]
                )
            return f.read()
    except OSError as exc:
        raise CourseError([Problem(path, 1, 1, f"cannot read the table: {exc.strerror}")]) from None
