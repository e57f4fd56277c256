r"""Max and average pooling, plain: every KH x KW window of the padded input reduced to one number.

Max pooling, x_pad padded with -inf (a pad never wins)::

    y[n, c, i, j]      = max_{p, q} x_pad[n, c, i*SH + p, j*SW + q]
    argmax[n, c, i, j] = the first offset p*KW + q (row-major) that holds the maximum (ties: the first wins)
    dx_pad[n, c, i*SH + p, j*SW + q] += dy[n, c, i, j]   for the winning (p, q) of each window

Windows that overlap (3x3 stride 2) can send several gradients to one pixel; they add up.

Average pooling, x_pad padded with zeros that count in the divisor (PyTorch's ``count_include_pad=True``)::

    y[n, c, i, j] = sum_{p, q} x_pad[n, c, i*SH + p, j*SW + q] / (KH*KW)
    dx_pad[n, c, i*SH + p, j*SW + q] += dy[n, c, i, j] / (KH*KW)        for every (p, q)

``kernel_size`` and ``stride`` are an int or a pair, ``padding`` as for convolution; the output size must be whole.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minicnn._geometry import pad2d, pool2d_geometry, unpad2d, windows
from minicnn.backend import get_array_module


@dataclass
class PoolCache:
    x_pad_shape: tuple  # (N, C, Hp, Wp)
    kernel_size: tuple  # (KH, KW)
    stride: tuple  # (SH, SW)
    padding: tuple  # ((top, bottom), (left, right))
    argmax: np.ndarray | None = None  # max pooling: (N, C, H_out, W_out) int, the winning offset p*KW + q


def maxpool2d_forward(x, kernel_size, stride, padding):
    """y (N, C, H_out, W_out), the maximum of each window; returns (y, cache)."""
    (KH, KW), (SH, SW), padding = pool2d_geometry(x, kernel_size, stride, padding, "maxpool2d_forward")
    xp = get_array_module(x)
    x_pad = pad2d(x, padding, value=-np.inf)
    flat = windows(x_pad, KH, KW, SH, SW).reshape(*x_pad.shape[:2], -1, KH * KW)  # (N, C, H_out*W_out, KH*KW)
    argmax = flat.argmax(axis=3)  # argmax returns the first maximum
    y = xp.take_along_axis(flat, argmax[..., None], axis=3)[..., 0]
    H_out = (x_pad.shape[2] - KH) // SH + 1
    shape = x_pad.shape[:2] + (H_out, -1)
    return y.reshape(shape), PoolCache(x_pad.shape, (KH, KW), (SH, SW), padding, argmax.reshape(shape))


def maxpool2d_backward(dy, cache):
    """dx (N, C, H, W): each dy added to the pixel that won its window."""
    xp = get_array_module(dy)
    (KH, KW), (SH, SW), (H_out, W_out) = cache.kernel_size, cache.stride, dy.shape[2:]
    dx_pad = xp.zeros(cache.x_pad_shape, dtype=dy.dtype)
    for p in range(KH):
        for q in range(KW):
            won = cache.argmax == p * KW + q
            dx_pad[:, :, p : p + SH * H_out : SH, q : q + SW * W_out : SW] += xp.where(won, dy, 0)
    return xp.ascontiguousarray(unpad2d(dx_pad, cache.padding))


def avgpool2d_forward(x, kernel_size, stride, padding):
    """y (N, C, H_out, W_out), the mean of each window (padded zeros included); returns (y, cache)."""
    (KH, KW), (SH, SW), padding = pool2d_geometry(x, kernel_size, stride, padding, "avgpool2d_forward")
    x_pad = pad2d(x, padding, value=0.0)
    y = windows(x_pad, KH, KW, SH, SW).mean(axis=(4, 5), dtype=x.dtype)
    return y, PoolCache(x_pad.shape, (KH, KW), (SH, SW), padding)


def avgpool2d_backward(dy, cache):
    """dx (N, C, H, W): each dy shared equally by the KH*KW pixels of its window."""
    xp = get_array_module(dy)
    (KH, KW), (SH, SW), (H_out, W_out) = cache.kernel_size, cache.stride, dy.shape[2:]
    share = dy / (KH * KW)
    dx_pad = xp.zeros(cache.x_pad_shape, dtype=dy.dtype)
    for p in range(KH):
        for q in range(KW):
            dx_pad[:, :, p : p + SH * H_out : SH, q : q + SW * W_out : SW] += share
    return xp.ascontiguousarray(unpad2d(dx_pad, cache.padding))
