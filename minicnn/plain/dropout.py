"""Inverted dropout, plain, with ``p_drop`` the probability of *dropping* a unit.

Training::

    u ~ Uniform[0, 1) per unit,  keep = u >= p_drop,  mask = keep / (1 - p_drop),  y = x * mask,  dx = dy * mask

Kept units are scaled by 1 / (1 - p_drop) so that E[y] = x and evaluation is the identity. The uniforms come
from ``rng`` (a ``numpy.random.Generator``), drawn on the host in x's precision, so one seed gives the same
masks on the CPU and the GPU.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minicnn.backend import get_array_module


@dataclass
class DropoutCache:
    mask: np.ndarray | None  # keep / (1 - p_drop) per unit; the Dropout layer keeps None when it is the identity


def draw_uniforms(x, rng):
    """Uniforms in [0, 1) of x's shape, float64 for float64 x and float32 otherwise, on x's device."""
    u = rng.random(x.shape, dtype=np.float64 if x.dtype == np.float64 else np.float32)
    return get_array_module(x).asarray(u)


def dropout_forward(x, p_drop, rng):
    """y = x * mask in training mode; returns (y, cache)."""
    if not 0.0 <= p_drop < 1.0:
        raise ValueError(f"dropout_forward: p_drop is the drop probability and must lie in [0, 1), got {p_drop!r}")
    keep = draw_uniforms(x, rng) >= p_drop
    mask = (keep / (1 - p_drop)).astype(x.dtype)
    return x * mask, DropoutCache(mask)


def dropout_backward(dy, cache):
    """dx = dy * mask."""
    return dy * cache.mask
