"""`mln check`, `mln expand`, `mln fmt`: the language tools.

They need no Django and start fast. Errors in a file are printed as
`FILE:LINE:COL: error: MESSAGE`, one per line on stderr, with exit status 1.
`check` and `expand` are bounded by mln.conf's limits, as an upload is.

Imports inside the verbs are deliberate: `mln` imports this module to build its
parser before `django.setup()` (projects/cli/__init__.py), so whatever reaches
Django's models is imported once a verb runs, after app loading.
"""

import argparse
import json
import sys

from projects.cli import CommandError, verb


def register(verbs):
    check = verb(verbs, "check", run_check, "check a project file and summarize it")
    _file_options(check, variables=True)
    expand = verb(verbs, "expand", run_expand, "print a project file resolved, as JSON")
    _file_options(expand, variables=True)
    fmt = verb(verbs, "fmt", run_fmt, "print a project file in canonical layout")
    fmt.add_argument("-f", dest="file", required=True, metavar="FILE", help="the .mln file")
    fmt.add_argument("--write", action="store_true", help="rewrite the file instead of printing it")


def _file_options(parser, variables):
    parser.add_argument("-f", dest="file", required=True, metavar="FILE", help="the .mln file")
    parser.add_argument(
        "--include-dir",
        dest="include_dirs",
        action="append",
        default=[],
        metavar="DIR",
        help="another root for absolute #include paths (repeatable)",
    )
    if variables:
        parser.add_argument(
            "--var",
            dest="variables",
            action="append",
            default=[],
            type=_variable,
            metavar="NAME=VALUE",
            help="a variable's value; wins over the file's (repeatable)",
        )


def _variable(text):
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.lstrip("$"), value


def run_check(args):
    from projects import lang

    tree = _load(args)
    try:
        spec = lang.build_spec(tree)
    except lang.MlnError as exc:
        return _report(exc)
    print(f"{spec.name}: {_count(len(spec.hosts), 'host')}, {_count(len(spec.switches), 'switch')}")
    for note in lang.check(tree):
        print(note.located())
    return 0


def run_expand(args):
    tree = _load(args)
    json.dump(tree, sys.stdout, indent=2)
    print()
    return 0


def run_fmt(args):
    from projects import lang

    text = _read(args.file)
    try:
        formatted = lang.format(text, args.file)
    except lang.MlnError as exc:
        return _report(exc)
    if args.write:
        if formatted != text:
            with open(args.file, "w", encoding="utf-8") as f:
                f.write(formatted)
    else:
        sys.stdout.write(formatted)
    return 0


def _load(args):
    from projects import lang
    from projects.cli.lifecycle import load_conf
    from projects.courses import limits_from_conf

    limits = limits_from_conf(load_conf(args))
    try:
        return lang.load(args.file, dict(getattr(args, "variables", [])), args.include_dirs, limits)
    except lang.MlnError as exc:
        if exc.kind == "unreadable-file" and exc.file == args.file:
            raise CommandError(exc.message) from None
        _report(exc)
        raise SystemExit(1) from None


def _report(exc):
    print(str(exc), file=sys.stderr)
    return 1


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError:
        raise CommandError(f"file {path!r} is not UTF-8 text") from None
    except FileNotFoundError:
        raise CommandError(f"file {path!r} not found") from None
    except OSError as exc:
        raise CommandError(f"cannot read {path!r}: {exc.strerror}") from None


def _count(n, noun):
    return f"{n} {noun}" + ("" if n == 1 else "es" if noun.endswith("h") else "s")
