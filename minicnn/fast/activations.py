"""ReLU, fast: the plain tier's ``max(x, 0)`` and ``dy * [y > 0]`` (``minicnn/plain/activations.py``).

On the CPU the backward multiplies by the 0/1 mask instead of selecting (3x faster in NumPy); on the GPU both
directions are the kernels of ``minicnn/kernels/activations.py``. The cache is the plain tier's ``ReLUCache``.
"""
from __future__ import annotations

import numpy as np

from minicnn import kernels
from minicnn.backend import get_array_module
from minicnn.plain.activations import ReLUCache


def relu_forward_apply(x):
    """y = max(x, 0) (NaN stays NaN)."""
    if get_array_module(x) is not np:
        return kernels.relu_forward_apply(x)
    return np.maximum(x, 0)


def relu_backward_apply(dy, y):
    """dx = where(y > 0, dy, 0).

    Computed as ``dy * [y > 0]``, a multiply by the 0/1 mask: a select with a random mask costs NumPy a branch
    per number and is 3x slower. The two agree unless dy holds an inf or NaN (inf * 0 = NaN), so then the
    select is used.
    """
    if get_array_module(dy) is not np:
        return kernels.relu_backward_apply(dy, y)
    on = y > 0
    if np.isfinite(dy).all():
        return np.multiply(dy, on, dtype=dy.dtype)
    return np.where(on, dy, dy.dtype.type(0))


def relu_forward(x):
    """y = max(x, 0); returns (y, cache)."""
    y = relu_forward_apply(x)
    return y, ReLUCache(y)


def relu_backward(dy, cache):
    """dx = dy where y > 0, else 0."""
    return relu_backward_apply(dy, cache.y)
