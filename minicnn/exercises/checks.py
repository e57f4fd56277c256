"""What a check says when an answer is wrong: which array, which shape, off by how much, and what that suggests.

Every check in ``minicnn.exercises`` goes through ``compare``. It never just says "wrong": it names the array
(``dgamma``, ``dx``), compares shapes first, then values, and when the values are off in a recognisable way it
says so - a constant factor (a forgotten ``1/M``), a transpose, a sign, a shift by a constant.
"""
from __future__ import annotations

import traceback

import numpy as np


class CheckFailed(Exception):
    """One check did not pass; the message says what was expected and what was found."""


def call(function_name: str, function, *args, **kwargs):
    """``function(*args, **kwargs)``; a learner's exception becomes a CheckFailed that names the function and line."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError as error:
        raise CheckFailed(f"{function_name} is not written yet (it raises NotImplementedError: {error})") from None
    except CheckFailed:
        raise
    except Exception as error:  # the learner's code: report where it broke
        frames = traceback.extract_tb(error.__traceback__)
        mine = [frame for frame in frames  # the deepest frame in the learner's code, not in NumPy or the checker
                if not any(part in frame.filename.replace("\\", "/")
                           for part in ("minicnn/exercises/checks.py", "site-packages/", "/numpy/"))]
        where = f"{mine[-1].filename}:{mine[-1].lineno} ({mine[-1].line})" if mine else "?"
        raise CheckFailed(f"{function_name} raised {type(error).__name__}: {error}\n    at {where}") from None


def _scalar_factor(got: np.ndarray, expected: np.ndarray) -> float | None:
    """k if got == k * expected to 1e-6 (k != 1), else None."""
    denominator = float((expected * expected).sum())
    if denominator == 0.0:
        return None
    k = float((got * expected).sum()) / denominator
    if abs(k - 1.0) < 1e-9 or not np.allclose(got, k * expected, rtol=1e-6, atol=1e-12):
        return None
    return k


def diagnose(got: np.ndarray, expected: np.ndarray) -> str:
    """A hint for a recognisable mistake, or an empty string."""
    k = _scalar_factor(got, expected)
    if k is not None:
        if abs(k + 1.0) < 1e-6:
            return " It is exactly the negative of the right answer: a sign is flipped."
        for text, value in (("2", 2.0), ("1/2", 0.5)):
            if abs(k - value) < 1e-6:
                return f" It is exactly {text} times the right answer."
        return (f" It is exactly {k:.6g} times the right answer (1/{1 / k:.6g}): a missing or extra constant factor, "
                f"such as a count M or a 1/M.")
    if got.ndim == 2 and got.shape[0] == got.shape[1] and np.allclose(got.T, expected, rtol=1e-6, atol=1e-12):
        return " It equals the transpose of the right answer."
    shift = expected - got
    if got.size > 1 and np.allclose(shift, shift.reshape(-1)[0], rtol=1e-6, atol=1e-9):
        return f" It differs from the right answer by the same constant {shift.reshape(-1)[0]:.6g} everywhere."
    if got.ndim >= 2 and got.shape[0] > 1:
        axes = (0,) + tuple(range(2, got.ndim))
        per_channel = shift.mean(axis=axes, keepdims=True)
        if np.allclose(shift, per_channel, rtol=1e-6, atol=1e-9):
            return (" It differs from the right answer by one constant per channel (axis 1): a term that is the same "
                    "for every value of a channel - through a per-channel mean or sum - is missing or extra.")
    return ""


def compare(name: str, got, expected, *, rtol: float = 1e-6, atol: float = 1e-9, hint: str = "") -> str:
    """Raise CheckFailed unless ``got`` equals ``expected`` (shape and values); return a one-line "ok" text."""
    expected = np.asarray(expected)
    if got is None:
        raise CheckFailed(f"{name}: got None, expected an array of shape {expected.shape}")
    try:
        got = np.asarray(got, dtype=np.float64) if expected.dtype.kind == "f" else np.asarray(got)
    except (TypeError, ValueError) as error:
        raise CheckFailed(f"{name}: could not read it as an array ({error})") from None
    if got.shape != expected.shape:
        text = f"{name} has shape {got.shape}, expected {expected.shape}"
        if got.size == expected.size:
            text += " (the same number of elements: a reshape or a missing keepdims?)"
        raise CheckFailed(text + (f". {hint}" if hint else ""))
    if expected.dtype.kind != "f":
        wrong = np.argwhere(got != expected)
        if len(wrong):
            index = tuple(int(i) for i in wrong[0])
            raise CheckFailed(f"{name} differs in {len(wrong)} of {got.size} places; first at {index}: got "
                              f"{got[index]}, expected {expected[index]}" + (f". {hint}" if hint else ""))
        return f"{name} {expected.shape}: exact"
    if not np.isfinite(got).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
        raise CheckFailed(f"{name} contains {int((~np.isfinite(got)).sum())} non-finite values (first at {bad}: "
                          f"{got[bad]}); expected {expected[bad]:.6g} there")
    difference = np.abs(got - expected)
    tolerance = atol + rtol * np.abs(expected)
    if (difference <= tolerance).all():
        scale = max(float(np.abs(expected).max(initial=0.0)), 1e-300)
        return f"{name} {expected.shape}: largest difference {difference.max(initial=0.0):.2g} (relative {difference.max(initial=0.0) / scale:.2g})"
    worst = np.unravel_index(int(np.argmax(difference - tolerance)), difference.shape)
    worst = tuple(int(i) for i in worst)
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-300)
    raise CheckFailed(
        f"{name} is wrong in {int((difference > tolerance).sum())} of {got.size} places: largest difference "
        f"{difference[worst]:.6g} at index {worst} (got {got[worst]:.6g}, expected {expected[worst]:.6g}; "
        f"{difference.max() / scale:.3g} relative to the largest expected value)." + diagnose(got, expected)
        + (f" {hint}" if hint else ""))

