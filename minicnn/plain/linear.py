"""Fully connected layer, plain: y = x @ w.T + b for x (N, in_features), w (out_features, in_features).

Backward::

    dw = dy.T @ x      (out_features, in_features)
    db = sum_n dy[n]   (out_features,)
    dx = dy @ w        (N, in_features)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LinearCache:
    x: np.ndarray  # (N, in_features)
    w: np.ndarray  # (out_features, in_features)
    has_bias: bool


def linear_forward(x, w, b):
    """y (N, out_features); ``b`` may be None. Returns (y, cache)."""
    y = x @ w.T
    if b is not None:
        y = y + b
    return y, LinearCache(x, w, b is not None)


def linear_backward(dy, cache, *, need_dx=True):
    """(dx, dw, db); db is None without a bias, dx None when ``need_dx`` is False."""
    dw = dy.T @ cache.x
    db = dy.sum(axis=0) if cache.has_bias else None
    return (dy @ cache.w if need_dx else None), dw, db
