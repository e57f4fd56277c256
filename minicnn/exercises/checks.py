"""What a check says when an answer is wrong: which array, which shape, off by how much - and, only when asked
(``check NAME --hint``), what that suggests.

Every check in ``minicnn.exercises`` goes through ``compare``. It never just says "wrong": it names the array
(``dgamma``, ``dx``), compares shapes first, then values. A known mistake that the result matches exactly is
named in the message (``same_as_mistake``: "what you get when eps is left out"). Everything that would give an
answer away - a formula, "it is the transpose of the right answer", the constant factor it is off by - goes into
the failure's ``hint``, which the command prints only with ``--hint``.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass

import numpy as np

from minicnn.exercises.guard import Refused


@dataclass(frozen=True)
class Result:
    check: str    # what was checked, e.g. "dx against minicnn.plain.batchnorm_backward, (6, 3)"
    passed: bool
    message: str  # "ok" detail, or what is wrong
    hint: str = ""  # how to get on (a formula, the form of the error): printed only with --hint


class CheckFailed(Exception):
    """One check did not pass: ``message`` says what was expected and what was found, ``hint`` how to get on."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint.strip()


def call(function_name: str, function, *args, **kwargs):
    """``function(*args, **kwargs)``; a learner's exception becomes a CheckFailed that names the function and line."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError as error:  # the stub's own text may hint at the answer: only behind --hint
        raise CheckFailed(f"{function_name} is not written yet (it raises NotImplementedError)",
                          hint=str(error)) from None
    except (CheckFailed, Refused):
        raise
    except Exception as error:  # the learner's code: report where it broke
        frames = traceback.extract_tb(error.__traceback__)
        mine = [frame for frame in frames  # the deepest frame in the learner's code, not in NumPy or the checker
                if not any(part in frame.filename.replace("\\", "/")
                           for part in ("minicnn/exercises/", "site-packages/", "/numpy/"))
                or "/solutions/" in frame.filename.replace("\\", "/") or "/stubs/" in frame.filename.replace("\\", "/")]
        where = f"{mine[-1].filename}:{mine[-1].lineno} ({mine[-1].line})" if mine else "?"
        raise CheckFailed(f"{function_name} raised {type(error).__name__}: {error}\n    at {where}") from None


def scalar_factor(got: np.ndarray, expected: np.ndarray) -> float | None:
    """k if got == k * expected to 1e-6 (k != 1), else None. Never for fewer than two nonzero expected values:
    any two single numbers are "k times" each other, which says nothing."""
    if np.count_nonzero(expected) < 2:
        return None
    k = float((got * expected).sum()) / float((expected * expected).sum())
    if abs(k) < 1e-12 or abs(k - 1.0) < 1e-9 or not np.allclose(got, k * expected, rtol=1e-6, atol=1e-12):
        return None
    return k


def diagnose(got: np.ndarray, expected: np.ndarray) -> str:
    """What the difference looks like, for the hint (empty when it has no recognisable form)."""
    if got.size > 1 and not got.any():
        return "It is zero everywhere."
    k = scalar_factor(got, expected)
    if k is not None:
        if abs(k + 1.0) < 1e-6:
            return "It is exactly the negative of the right answer: a sign is flipped."
        for text, value in (("2", 2.0), ("1/2", 0.5)):
            if abs(k - value) < 1e-6:
                return f"It is exactly {text} times the right answer."
        return (f"It is exactly {k:.6g} times the right answer (1/{1 / k:.6g}): a missing or extra constant factor, "
                f"such as a count M or a 1/M.")
    if got.ndim == 2 and got.shape[0] == got.shape[1] and np.allclose(got.T, expected, rtol=1e-6, atol=1e-12):
        return "It equals the transpose of the right answer."
    shift = expected - got
    if got.size > 1 and np.allclose(shift, shift.reshape(-1)[0], rtol=1e-6, atol=1e-9):
        return f"It differs from the right answer by the same constant {shift.reshape(-1)[0]:.6g} everywhere."
    if got.ndim >= 2 and got.shape[0] > 1:
        axes = (0,) + tuple(range(2, got.ndim))
        per_channel = shift.mean(axis=axes, keepdims=True)
        if np.allclose(shift, per_channel, rtol=1e-6, atol=1e-9):
            return ("It differs from the right answer by one constant per channel (axis 1): a term that is the same "
                    "for every value of a channel - through a per-channel mean or sum - is missing or extra.")
    return ""


def as_array(name: str, got, expected: np.ndarray) -> np.ndarray:
    if got is None:
        raise CheckFailed(f"{name}: got None (not written yet?), expected an array of shape {expected.shape}")
    try:
        return np.asarray(got, dtype=np.float64) if expected.dtype.kind == "f" else np.asarray(got)
    except (TypeError, ValueError) as error:
        raise CheckFailed(f"{name}: could not read it as an array ({error})") from None


def compare(name: str, got, expected, *, rtol: float = 1e-6, atol: float = 1e-9, hint: str = "") -> str:
    """Raise CheckFailed unless ``got`` equals ``expected`` (shape and values); return a one-line "ok" text.
    ``hint`` (and what ``diagnose`` sees in the difference) goes into the failure's hint."""
    expected = np.asarray(expected)
    got = as_array(name, got, expected)
    if got.shape != expected.shape:
        text = f"{name} has shape {got.shape}, expected {expected.shape}"
        if got.size == expected.size:
            text += " (the same number of elements: a reshape or a missing keepdims?)"
        raise CheckFailed(text, hint=hint)
    if expected.dtype.kind != "f":
        wrong = np.argwhere(got != expected)
        if len(wrong):
            index = tuple(int(i) for i in wrong[0])
            raise CheckFailed(f"{name} differs in {len(wrong)} of {got.size} places; first at {index}: got "
                              f"{got[index]}, expected {expected[index]}", hint=hint)
        return f"{name} {expected.shape}: exact"
    if not np.isfinite(got).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
        raise CheckFailed(f"{name} contains {int((~np.isfinite(got)).sum())} non-finite values (first at {bad}: "
                          f"{got[bad]}); expected {expected[bad]:.6g} there", hint=hint)
    difference = np.abs(got - expected)
    tolerance = atol + rtol * np.abs(expected)
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-300)
    if (difference <= tolerance).all():
        largest = difference.max(initial=0.0)
        return f"{name} {expected.shape}: largest difference {largest:.2g} (relative {largest / scale:.2g})"
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(difference - tolerance)), difference.shape))
    where = f" at index {worst}" if got.ndim else ""
    raise CheckFailed(
        f"{name} is wrong in {int((difference > tolerance).sum())} of {got.size} places: largest difference "
        f"{difference[worst]:.6g}{where} (got {got[worst]:.6g}, expected {expected[worst]:.6g}; "
        f"{difference.max() / scale:.3g} relative to the largest expected value)",
        hint=" ".join(part for part in (diagnose(got, expected), hint) if part))


def sentence(failure) -> str:
    """A failure's message ending with a full stop, to go on with another sentence."""
    text = str(failure)
    return text if text.endswith(".") else text + "."


def same_as_mistake(name, got, expected, mistakes, **tolerance) -> str:
    """compare(), but when ``got`` is exactly one of the known wrong answers, say which mistake gives it.

    ``mistakes``: ``(what, wrong_array)`` or ``(what, wrong_array, hint)``; ``what`` completes "Your result is what
    you get when ..." and names the mistake without giving the formula; ``hint`` is for ``--hint``."""
    try:
        return compare(name, got, expected, **tolerance)
    except CheckFailed as failure:
        got = np.asarray(got, dtype=np.float64) if got is not None else None
        for mistake in mistakes:
            what, wrong = mistake[0], np.asarray(mistake[1], dtype=np.float64)
            if got is not None and wrong.shape == got.shape and np.allclose(got, wrong, rtol=1e-9, atol=1e-12):
                extra = mistake[2] if len(mistake) > 2 else ""
                raise CheckFailed(f"{sentence(failure)} Your result is what you get when {what}.",
                                  hint=" ".join(p for p in (extra, failure.hint) if p)) from None
        raise
