"""Max and average pooling over KH x KW windows with a stride.

Max pooling::

    y[n, c, i, j]      = max_{p, q} x_pad[n, c, i*SH + p, j*SW + q]
    argmax[n, c, i, j] = the first (p*KW + q, row-major) offset that attains the maximum

Its gradient flows only to the winner of each window (ties: the first maximum, as in PyTorch); windows that
overlap (3x3 stride 2) can send several gradients to one pixel, and they add up::

    dx_pad[n, c, i*SH + p, j*SW + q] += dy[n, c, i, j]   where p*KW + q == argmax[n, c, i, j]

Padding is -inf for max pooling (a pad never wins) and zero for average pooling, whose divisor is always
KH*KW (PyTorch's ``count_include_pad=True``)::

    y[n, c, i, j] = sum_{p, q} x_pad[n, c, i*SH + p, j*SW + q] / (KH*KW),   dx_pad[...] += dy[n, c, i, j] / (KH*KW)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minicnn._geometry import normalize_pair, normalize_padding, output_size, pad2d, sample_blocks, unpad2d, windows
from minicnn.backend import get_array_module
from minicnn.layers.base import Layer


def maxpool_forward(x_pad, KH, KW, SH, SW, H_out, W_out):
    """(N, C, Hp, Wp) -inf-padded input -> y (N, C, H_out, W_out) and int32 argmax (offset p*KW + q).

    Walks the KH*KW offsets in row-major order, keeping a running maximum; a strict ``>`` keeps the first
    maximum on ties. See ``_max_walk`` for how; a window holding a NaN is walked again with an exact select.
    """
    xp = get_array_module(x_pad)
    if xp is not np:
        from minicnn import kernels

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
    for block in sample_blocks(y, 1 << 18):
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
    xp = get_array_module(dy)
    if xp is not np:
        from minicnn import kernels

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


@dataclass
class MaxPoolCache:
    argmax: np.ndarray  # (N, C, H_out, W_out) int32, winning offset p*KW + q of each window
    x_pad_shape: tuple


@dataclass
class AvgPoolCache:
    x_pad_shape: tuple


class _Pool2d(Layer):
    """Shared arguments of the pooling layers; ``stride`` defaults to the kernel size (PyTorch's rule)."""

    def __init__(self, kernel_size, stride=None, padding=0, *, name=None):
        super().__init__(name)
        self.kernel_size = normalize_pair(kernel_size, "kernel_size")
        self.stride = normalize_pair(self.kernel_size if stride is None else stride, "stride")
        self.padding = normalize_padding(padding)

    def _geometry(self, x):
        self._check_input(x, 4)
        (KH, KW), (SH, SW) = self.kernel_size, self.stride
        H_out = output_size(x.shape[2], KH, SH, self.padding[0], self, "height")
        W_out = output_size(x.shape[3], KW, SW, self.padding[1], self, "width")
        return KH, KW, SH, SW, H_out, W_out


class MaxPool2d(_Pool2d):
    """Max pooling with argmax routing; the first maximum of a window wins ties."""

    def forward(self, x, train=True):
        KH, KW, SH, SW, H_out, W_out = self._geometry(x)
        x_pad = pad2d(x, self.padding, value=-np.inf)
        y, argmax = maxpool_forward(x_pad, KH, KW, SH, SW, H_out, W_out)
        self._cache = MaxPoolCache(argmax, x_pad.shape)
        return y

    def backward(self, dy):
        cache = self._require_cache()
        (KH, KW), (SH, SW) = self.kernel_size, self.stride
        dx_pad = maxpool_backward(dy, cache.argmax, cache.x_pad_shape, KH, KW, SH, SW)
        return unpad2d(dx_pad, self.padding)


class AvgPool2d(_Pool2d):
    """Average pooling; padded zeros count in the divisor (KH*KW always)."""

    def forward(self, x, train=True):
        KH, KW, SH, SW, H_out, W_out = self._geometry(x)
        x_pad = pad2d(x, self.padding, value=0.0)
        self._cache = AvgPoolCache(x_pad.shape)
        return windows(x_pad, KH, KW, SH, SW).mean(axis=(4, 5), dtype=x.dtype)

    def backward(self, dy):
        cache = self._require_cache()
        (KH, KW), (SH, SW) = self.kernel_size, self.stride
        xp = get_array_module(dy)
        H_out, W_out = dy.shape[2:]
        share = dy / (KH * KW)
        dx_pad = xp.zeros(cache.x_pad_shape, dtype=dy.dtype)
        for p in range(KH):
            for q in range(KW):
                dx_pad[:, :, p : p + SH * H_out : SH, q : q + SW * W_out : SW] += share
        return unpad2d(dx_pad, self.padding)
