"""Fully connected layer, fast: the plain tier's three products (``minicnn/plain/linear.py``), with the bias
added in place. ``linear_backward_into`` writes dw into an array the caller passes - the layers pass last step's
dw (150 MB for AlexNet's fc6) - instead of a new one (see ``minicnn/layers/base.py``). On the CPU a large layer's
output features are shared among the fast tier's threads (``minicnn/fast/threads.py``), each with a
single-threaded GEMM: y's and dw's columns and rows of each share are its own, and dx is the sum of the shares'
dy[:, share] @ w[share]. The cache is the plain tier's ``LinearCache``."""
from __future__ import annotations

import numpy as np

from minicnn.backend import get_array_module
from minicnn.fast.threads import get_threads, run_blocks
from minicnn.plain.linear import LinearCache

MIN_SHARED = 1 << 20  # weights below this many numbers are one GEMM: too small to gain from splitting


def _shares(w):
    """Slices of the output features, one per thread, or None for one plain GEMM (GPU, small layer, one thread)."""
    threads = get_threads()
    if get_array_module(w) is not np or w.size < MIN_SHARED or threads < 2:
        return None
    size = -(-w.shape[0] // threads)
    return [slice(start, start + size) for start in range(0, w.shape[0], size)]


def linear_forward(x, w, b):
    """y = x @ w.T + b, (N, out_features); returns (y, cache)."""
    shares = _shares(w)
    if shares is None:
        y = x @ w.T
    else:
        y = np.empty((x.shape[0], w.shape[0]), dtype=np.result_type(x, w))

        def forward_share(share):
            y[:, share] = x @ w[share].T

        run_blocks(forward_share, shares)
    if b is not None:
        y += b
    return y, LinearCache(x, w, b is not None)


def linear_backward(dy, cache, *, need_dx=True):
    """(dx, dw, db); see ``minicnn.plain.linear_backward``."""
    dw = get_array_module(dy).empty(cache.w.shape, dtype=np.result_type(dy.dtype, cache.x.dtype))
    return linear_backward_into(dw, dy, cache, need_dx=need_dx)


def linear_backward_into(dw, dy, cache, *, need_dx=True):
    """``linear_backward`` with dw written into ``dw`` (w's shape, dy's dtype), which it returns."""
    x, w = cache.x, cache.w
    db = dy.sum(axis=0) if cache.has_bias else None
    shares = _shares(w)
    if shares is None:
        get_array_module(dy).matmul(dy.T, x, out=dw)
        return (dy @ w if need_dx else None), dw, db

    def backward_share(share):
        np.matmul(dy[:, share].T, x, out=dw[share])
        return dy[:, share] @ w[share] if need_dx else None

    dx_shares = run_blocks(backward_share, shares)
    dx = None
    if need_dx:
        dx = dx_shares[0]
        for part in dx_shares[1:]:
            dx += part
    return dx, dw, db
