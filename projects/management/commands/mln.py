"""`python manage.py mln ...`: the same command line as `.venv/bin/mln`."""

import sys

from django.core.management.base import BaseCommand

from projects.cli import main


class Command(BaseCommand):
    help = "The mln command line (run `manage.py mln --help`)."

    def run_from_argv(self, argv):
        # argv is [manage.py, "mln", ...]; the mln parser does its own parsing.
        sys.exit(main(argv[2:]))
