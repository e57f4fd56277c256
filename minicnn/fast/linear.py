"""Fully connected layer, fast: the plain tier's three products (``minicnn/plain/linear.py``), with the bias
added in place and dw written into the caller's buffer. The cache is the plain tier's ``LinearCache``."""
from __future__ import annotations

from minicnn.backend import get_array_module
from minicnn.plain.linear import LinearCache


def linear_forward(x, w, b):
    """y = x @ w.T + b, (N, out_features); returns (y, cache)."""
    y = x @ w.T
    if b is not None:
        y += b
    return y, LinearCache(x, w, b is not None)


def linear_backward(dy, cache, *, need_dx=True, dw_out=None):
    """(dx, dw, db); see ``minicnn.plain.linear_backward``."""
    dw = get_array_module(dy).matmul(dy.T, cache.x, out=dw_out)
    db = dy.sum(axis=0) if cache.has_bias else None
    return (dy @ cache.w if need_dx else None), dw, db
