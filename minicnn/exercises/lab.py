"""The labs' check cells: one line each, one clear message when a blank is not filled in or is wrong.

A lab (docs/labs/) has cells tagged ``blank`` for you to complete - each, as shipped, defines a function that
raises NotImplementedError or assigns None - and cells tagged ``check`` (and ``raises-exception``, so that the
notebook goes on) that call ``check`` below::

    check("batchnorm_loops", lambda: batchnorm_loops(x, gamma, beta), plain.batchnorm_forward(x, gamma, beta)[0])

``check`` prints one "right" line, or raises ``NotWrittenYet`` (the blank is untouched) or ``WrongAnswer`` (what
``minicnn.exercises.checks.compare`` says is wrong: which array, where, by how much). Hints stay out of the
message, as in ``python -m minicnn.exercises check``. The worked answers are in ``docs/labs/answers/``.
"""
from __future__ import annotations

from minicnn.exercises.checks import CheckFailed, compare


class NotWrittenYet(Exception):
    """The blank cell is still as shipped."""


class WrongAnswer(Exception):
    """The blank cell computes something else than expected; the message says what and where."""


def answer(name: str, compute):
    """``compute()``, with an untouched blank (NotImplementedError, or None) turned into NotWrittenYet."""
    try:
        value = compute()
    except NotImplementedError:
        raise NotWrittenYet(f"{name} is not written yet: fill in the cell above marked 'your turn', run it, then "
                            f"this one") from None
    if value is None:
        raise NotWrittenYet(f"{name} is still None: fill in the cell above marked 'your turn', run it, then this one")
    return value


def check(name: str, compute, expected, *, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """Compare ``compute()`` with ``expected``; print one line when right, raise a one-line exception when not."""
    got = answer(name, compute)
    try:
        detail = compare(name, got, expected, rtol=rtol, atol=atol)
    except CheckFailed as failure:
        raise WrongAnswer(str(failure)) from None
    print(f"{name}: right ({detail})")


def require(name: str, condition: bool, message: str) -> None:
    """For a property rather than a value: raise WrongAnswer(message) unless ``condition``."""
    if not condition:
        raise WrongAnswer(f"{name}: {message}")
    print(f"{name}: right")
