"""The `mln` command line.

One parser for the whole project: the language tools (`check`, `expand`,
`fmt`), courses, and the verbs of the article's Table 1. Each group of verbs
lives in its own module here and registers itself with `register(verbs)`.
The same entry point serves `.venv/bin/mln` and `python manage.py mln`.

Exit status: 0 success, 1 an error in the input or the work, 2 a usage mistake.
"""

import argparse
import os
import sys
from importlib import import_module

from projects.lang import MlnError

VERB_MODULES = [
    "projects.cli.lang",
    "projects.cli.templates",
    "projects.cli.lifecycle",
    "projects.cli.course",
    "projects.cli.cluster",
]


class CommandError(Exception):
    """A failure to report in one line, with exit status 1."""


def verb(verbs, name, run, help, needs_django=False, aliases=()):
    """Add one verb. `-h` is not help here: Table 1 uses it for a host name."""
    parser = verbs.add_parser(name, help=help, description=help, add_help=False, aliases=list(aliases))
    parser.add_argument("--help", action="help", help="show this help and exit")
    parser.set_defaults(run=run, needs_django=needs_django)
    return parser


def build_parser():
    parser = argparse.ArgumentParser(prog="mln", description="Manage Large Networks: projects of virtual machines.")
    # Table 2 paths, overridable before the verb as in the original tool.
    parser.add_argument("-P", dest="projects_path", metavar="DIR", help="projects folder (mln.conf: projects)")
    parser.add_argument("-T", dest="templates_path", metavar="DIR", help="templates folder (mln.conf: templates)")
    parser.add_argument("-F", dest="files_path", metavar="DIR", help="files folder (mln.conf: files)")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    for module in VERB_MODULES:
        import_module(module).register(verbs)
    return parser


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlnweb.settings")
    import django

    django.setup()


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)  # usage mistakes exit 2 with a usage line
    if not args.verb:
        parser.print_usage(sys.stderr)
        print("mln: error: a verb is required", file=sys.stderr)
        return 2
    try:
        if args.needs_django:
            setup_django()
        return args.run(args) or 0
    except CommandError as exc:
        print(f"mln: error: {exc}", file=sys.stderr)
        return 1
    except MlnError as exc:
        # The language's own lines, FILE:LINE:COL: error: MESSAGE, as they are.
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
