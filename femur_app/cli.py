"""What every command shares: the ``--debug`` option and the one-line report of a user's error.

A command builds its parser (``cli.ArgumentParser``: argparse whose usage errors are one line too), and hands it
with the function that does the work to ``run``::

    def main(argv=None) -> int:
        return cli.run(parser(), execute, argv)

``run`` adds ``--debug``, parses, and calls ``execute(args)``, whose return value is the exit status. A
``UserError`` (``ConfigError``, ``DataError``, ...) becomes exactly one line on stderr,
``error: <culprit>: <what is wrong> (<what was expected>)``, and exit status 2; with ``--debug`` it is raised
with its traceback instead. Any other exception is a bug in this code and keeps its traceback.
"""
from __future__ import annotations

import argparse
import sys

from femur_app.errors import UserError

USAGE_ERROR = 2  # argparse's status for a bad option, and ours for every user error


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors are one line, like every other user error (status 2)."""

    def error(self, message):
        self.exit(USAGE_ERROR, f"error: {message} (see {self.prog} --help)\n")


def run(parser: argparse.ArgumentParser, execute, argv=None) -> int:
    """Parse ``argv`` with ``parser`` (plus ``--debug``) and return ``execute(args)``'s exit status."""
    parser.add_argument("--debug", action="store_true", help="on an error, show the full traceback")
    args = parser.parse_args(argv)
    try:
        return execute(args)
    except UserError as error:
        if args.debug:
            raise
        print(f"error: {one_line(error)}", file=sys.stderr)
        return USAGE_ERROR


def one_line(error: Exception) -> str:
    """The error's message on a single line (a multi-line message has its lines joined by '; ')."""
    return "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
