"""Max and average pooling, fast: the plain tier's algorithm (``minicnn/plain/pool.py``) made fast.

Max pooling walks the KH*KW window offsets with a running maximum, without data-dependent selects, one
cache-sized block of samples at a time (``_max_walk``); its backward adds each dy at its winner's flat index with
one ``np.add.at``. Average pooling is the plain tier's. On the GPU, ``maxpool_forward`` and ``maxpool_backward``
are the hand-written kernels of ``minicnn/kernels/pool.py``. The cache is the plain tier's ``PoolCache``.
"""
from __future__ import annotations

import numpy as np

from minicnn import kernels
from minicnn._geometry import cache_blocks, pad2d, pool2d_geometry, unpad2d, windows
from minicnn.backend import get_array_module
from minicnn.plain.pool import PoolCache, avgpool2d_backward, avgpool2d_forward


def maxpool_forward(x_pad, KH, KW, SH, SW, H_out, W_out):
    """(N, C, Hp, Wp) -inf-padded input -> y (N, C, H_out, W_out) and int32 argmax (offset p*KW + q).

    Walks the KH*KW offsets in row-major order, keeping a running maximum; a strict ``>`` keeps the first
    maximum on ties. See ``_max_walk`` for how; a window holding a NaN is walked again with an exact select.
    """
    if get_array_module(x_pad) is not np:
        return kernels.maxpool_forward(x_pad, KH, KW, SH, SW, H_out, W_out)
    patches = windows(x_pad, KH, KW, SH, SW)  # (N, C, H_out, W_out, KH, KW) view
    y, argmax = _max_walk(patches, KH, KW, exact_select=False)
    if np.isnan(y).any():  # np.maximum let a NaN win somewhere the strict walk would not
        y, argmax = _max_walk(patches, KH, KW, exact_select=True)
    return y, argmax


def _max_walk(patches, KH, KW, exact_select):
    """The running maximum over the offsets k = p*KW + q, one block of samples at a time (it stays in cache).

    At offset k, ``better = candidate > y`` (strict); then ``y = where(better, candidate, y)`` and
    ``argmax = where(better, k, argmax)``. Selects with a data-dependent mask are slow in NumPy (a branch per
    number), so the fast walk writes them without one: ``y = maximum(y, candidate)`` (the same unless a NaN is
    involved) and ``argmax = maximum(argmax, k * better)`` (argmax < k before step k, so the max picks k exactly
    where ``better``). ``exact_select=True`` uses the select for y, for inputs with NaNs.
    """
    y = np.empty(patches.shape[:4], dtype=patches.dtype)
    argmax = np.zeros(y.shape, dtype=np.int32)
    for block in cache_blocks(y, 1 << 18):
        y_b, argmax_b, patches_b = y[block], argmax[block], patches[block]
        better = np.empty(y_b.shape, dtype=bool)
        k_better = np.empty(y_b.shape, dtype=np.int32)
        y_b[...] = patches_b[..., 0, 0]
        for k in range(1, KH * KW):
            candidate = patches_b[..., k // KW, k % KW]
            np.greater(candidate, y_b, out=better)
            if exact_select:
                np.copyto(y_b, candidate, where=better)
            else:
                np.maximum(y_b, candidate, out=y_b)
            np.multiply(better, k, out=k_better)
            np.maximum(argmax_b, k_better, out=argmax_b)
    return y, argmax


def maxpool_backward(dy, argmax, x_pad_shape, KH, KW, SH, SW):
    """Route each dy to its window's winner: dx_pad.flat[winner] += dy.

    The winner of window (n, c, i, j) sits at flat index ((n*C + c)*Hp + i*SH + p)*Wp + j*SW + q of x_pad, with
    (p, q) = divmod(argmax, KW). ``np.add.at`` adds every dy at its index, and unlike ``dx.flat[index] += dy``
    it adds repeated indices up - overlapping windows (3x3 stride 2) can share a winner. The indices come in
    nearly sorted order, which ``np.add.at`` handles at memory speed.
    """
    if get_array_module(dy) is not np:
        return kernels.maxpool_backward(dy, argmax, x_pad_shape, KH, KW, SH, SW)
    N, C, Hp, Wp = x_pad_shape
    H_out, W_out = dy.shape[2:]
    p, q = np.divmod(argmax, KW)
    index = p.astype(np.intp)
    index *= Wp
    index += q
    index += (np.arange(N * C, dtype=np.intp) * (Hp * Wp)).reshape(N, C, 1, 1)  # the (n, c) plane
    index += (np.arange(H_out, dtype=np.intp) * (SH * Wp)).reshape(H_out, 1)  # the window's top row
    index += np.arange(W_out, dtype=np.intp) * SW  # the window's left column
    dx_pad = np.zeros(x_pad_shape, dtype=dy.dtype)
    np.add.at(dx_pad.reshape(-1), index.reshape(-1), dy.reshape(-1))
    return dx_pad


def maxpool2d_forward(x, kernel_size, stride, padding):
    """y (N, C, H_out, W_out), the maximum of each window; returns (y, cache). See ``minicnn.plain.maxpool2d_forward``."""
    (KH, KW), (SH, SW), padding = pool2d_geometry(x, kernel_size, stride, padding, "maxpool2d_forward")
    x_pad = pad2d(x, padding, value=-np.inf)
    H_out, W_out = (x_pad.shape[2] - KH) // SH + 1, (x_pad.shape[3] - KW) // SW + 1
    y, argmax = maxpool_forward(x_pad, KH, KW, SH, SW, H_out, W_out)
    return y, PoolCache(x_pad.shape, (KH, KW), (SH, SW), padding, argmax)


def maxpool2d_backward(dy, cache):
    """dx (N, C, H, W): each dy added to the pixel that won its window."""
    (KH, KW), (SH, SW) = cache.kernel_size, cache.stride
    return unpad2d(maxpool_backward(dy, cache.argmax, cache.x_pad_shape, KH, KW, SH, SW), cache.padding)


__all__ = ["avgpool2d_backward", "avgpool2d_forward", "maxpool2d_backward", "maxpool2d_forward", "maxpool_backward",
           "maxpool_forward"]
