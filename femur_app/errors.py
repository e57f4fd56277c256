"""The errors a user can cause and fix, as opposed to bugs in this code.

Every command catches ``UserError`` and prints it as one line, ``error: <culprit>: <what is wrong> (<what was
expected>)``, exiting with status 2 (``femur_app.cli``); any other exception is a bug and keeps its traceback.
The message of a ``UserError`` is written in that shape: it starts with the file, line, option or key at fault.
"""


class UserError(ValueError):
    """A problem with what the user gave us (a file, an option, a configuration value), stated so it can be fixed."""


class ConfigError(UserError):
    """A configuration file, option or override with an unknown key, a wrong type or a value out of range."""


class DataError(UserError):
    """A data file or table entry that cannot be used; the message names the file and the problem."""


class MissingDependency(UserError, ImportError):
    """An optional package that this input needs is not installed; the message says which extra installs it."""


def problem(name: str, value, expected: str) -> str:
    """One configuration problem in the words every section uses: ``"<key>: got <value> (<expected>)"``."""
    return f"{name}: got {value!r} ({expected})"
