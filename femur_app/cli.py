"""What every command shares: ``--debug``, and the one-line answer to every way a command can end badly.

A command builds its parser (``cli.ArgumentParser``: argparse whose usage errors are one line too), and hands it
with the function that does the work to ``run``::

    def main(argv=None) -> int:
        return cli.run(parser(), execute, argv)

``run`` adds ``--debug``, parses, and calls ``execute(args)``, whose return value is the exit status. How a
command ends, and its exit status (``--debug`` raises the exception with its traceback instead of the line):

====  ==========================================================================================================
0     done
1     a fault of the machine: an ``OSError`` of the command's own outputs or caches (a read-only or full disk, a
      file where a folder should be, a permission) -> ``error: <path>: <cause> (...)``. Every file is written
      atomically (``minicnn.serialize.write_atomic``), so nothing half-written is left
2     the user's input: a ``UserError`` (``ConfigError``, ``DataError``, ...) or a bad option ->
      ``error: <culprit>: <what is wrong> (<what was expected>)``
130   Ctrl-C (SIGINT), 143 SIGTERM -> one line saying how to resume (``resume``, given by the commands that can)
====  ==========================================================================================================

A closed stdout (``predict ... | head -0``) ends the command quietly, with status 1 as Python's own recipe does.
Any other exception is a bug in this code and keeps its traceback.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys

from femur_app.errors import UserError

MACHINE_FAULT = 1
USAGE_ERROR = 2  # argparse's status for a bad option, and ours for every user error
INTERRUPTED = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal's number, as a shell reports it


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors are one line, like every other user error (status 2)."""

    def error(self, message):
        self.exit(USAGE_ERROR, f"error: {message} (see {self.prog} --help)\n")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so that it unwinds (and stops its workers) as Ctrl-C does."""


def run(parser: argparse.ArgumentParser, execute, argv=None, resume: str = "") -> int:
    """Parse ``argv`` with ``parser`` (plus ``--debug``) and return ``execute(args)``'s exit status, or the status
    of how it ended (the table above). ``resume``: what an interrupted command's user does next."""
    parser.add_argument("--debug", action="store_true", help="on an error, show the full traceback")
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        status = execute(args)
        sys.stdout.flush()  # a closed stdout fails here, not in the interpreter's exit
        return status
    except UserError as error:
        if args.debug:
            raise
        print(f"error: {one_line(error)}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes it
        return MACHINE_FAULT
    except OSError as error:
        if args.debug:
            raise
        print(f"error: {fault_line(error)}", file=sys.stderr)
        return MACHINE_FAULT
    except KeyboardInterrupt as interrupt:
        if args.debug:
            raise
        number = signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT
        what = resume or "nothing half-written was left; run the command again"
        print(f"\ninterrupted by {signal.Signals(number).name}: {what}", file=sys.stderr)
        return INTERRUPTED[number]
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(signum, frame):
    raise Terminated


def fault_line(error: OSError) -> str:
    """An OSError as one line: the path, the cause, and what to do."""
    path = error.filename if error.filename is not None else "(no path)"
    cause = error.strerror or str(error) or type(error).__name__
    return (f"{path}: {cause} (a fault of the machine or its files, not of the input: make the path a writable "
            "folder with free space and run the command again; --debug shows the traceback)")


def one_line(error: Exception) -> str:
    """The error's message on a single line (a multi-line message has its lines joined by '; ')."""
    return "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
