"""Run one kernel and its NumPy reference on the same arguments and compare: the body of every kernel check.

Used by the tests (emulated and GPU) and by ``python -m minicnn.selfcheck``.

``device`` is ``"emulator"`` (the kernel's CUDA source on the CPU, see ``minicnn/kernels/emulate.py``) or ``"gpu"``
(CuPy).
Kernels that only move or select numbers (im2col, max pool forward, ReLU, dropout, ...) must equal their
reference exactly, on either device. Kernels that add or multiply (col2im, max pool backward, batch norm)
may round differently from the reference, whose NumPy code orders its operations for CPU speed; they must
agree to within ``TOLERANCE`` relative to the output's largest value - a few hundred units in the last
place for float32, far below any error that would matter, far above rounding noise.
"""
from __future__ import annotations

import numpy as np

from minicnn.backend import to_cpu, to_gpu

TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-13}


def _as_list(result):
    return list(result) if isinstance(result, tuple) else [result]


def _copy(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def run(entry, args, device: str):
    """``(reference outputs, kernel outputs)``, both lists of NumPy arrays."""
    reference = _as_list(entry.reference(*_copy(args)))
    if device == "emulator":
        got = _as_list(entry.launcher(*_copy(args)))
    elif device == "gpu":
        device_args = [to_gpu(a) if isinstance(a, (np.ndarray, np.generic)) else a for a in args]
        got = [to_cpu(out) for out in _as_list(entry.launcher(*device_args))]
    else:
        raise ValueError(f"device must be 'emulator' or 'gpu', got {device!r}")
    return reference, got


def compare(reference, got, exact: bool) -> tuple[bool, float]:
    """``(agree, largest absolute difference)`` over every output; NaN must meet NaN, inf the same inf."""
    if len(reference) != len(got):
        return False, float("inf")
    ok, worst = True, 0.0
    for ref, out in zip(reference, got):
        if ref.shape != out.shape or ref.dtype != out.dtype:
            return False, float("inf")
        same = (ref == out) | (np.isnan(ref) & np.isnan(out)) if ref.dtype.kind == "f" else ref == out
        if same.all():
            continue
        if not (np.isfinite(ref) & np.isfinite(out))[~same].all():  # NaN or inf where the other differs
            return False, float("inf")
        diff = np.abs(ref.astype(np.float64) - out.astype(np.float64))
        worst = max(worst, float(diff.max()))
        if exact or ref.dtype.kind != "f":
            ok = False
        else:
            ok = ok and worst <= TOLERANCE[ref.dtype] * float(np.max(np.abs(ref[np.isfinite(ref)]), initial=0.0))
    return ok, worst


def check(entry, args, device: str) -> tuple[bool, float]:
    """Run ``entry``'s launcher on ``device`` and its reference on the host, and compare."""
    reference, got = run(entry, args, device)
    return compare(reference, got, entry.exact)
