r"""2-D convolution, plain: im2col and one matrix product.

For x (N, C, H, W), filters w (F, C, KH, KW), bias b (F,) or None, stride (SH, SW) and the padded input
x_pad (N, C, Hp, Wp)::

    y[n, f, i, j] = b[f] + sum_{c, p, q} w[f, c, p, q] * x_pad[n, c, i*SH + p, j*SW + q]        (N, F, H_out, W_out)

im2col lays every receptive field out as one row, so the whole sum is one matrix product::

    cols[(n, i, j), (c, p, q)] = x_pad[n, c, i*SH + p, j*SW + q]      cols (N*H_out*W_out, C*KH*KW)
    Y = cols @ W2.T + b                                               W2 = w.reshape(F, C*KH*KW), Y (N*H_out*W_out, F)

Backward, with dY = dy laid out like Y::

    dW2   = dY.T @ cols            (F, C*KH*KW)
    db    = sum over the rows of dY   (F,)
    dcols = dY @ W2                (N*H_out*W_out, C*KH*KW)
    dx    = col2im(dcols): each row added back onto the pixels its receptive field came from, then unpadded

``padding`` is an int, ``(ph, pw)`` or ``((top, bottom), (left, right))``; the output size must be whole.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minicnn._geometry import conv2d_geometry, pad2d, unpad2d, windows
from minicnn.backend import get_array_module


@dataclass
class ConvCache:
    cols: np.ndarray  # (N*H_out*W_out, C*KH*KW) every receptive field as a row
    x_pad_shape: tuple  # (N, C, Hp, Wp)
    w: np.ndarray  # (F, C, KH, KW)
    has_bias: bool
    stride: tuple  # (SH, SW)
    padding: tuple  # ((top, bottom), (left, right))


def im2col(x_pad, KH, KW, SH, SW, H_out, W_out):
    """(N, C, Hp, Wp) padded input -> cols (N*H_out*W_out, C*KH*KW): every receptive field as one row."""
    N, C = x_pad.shape[:2]
    return windows(x_pad, KH, KW, SH, SW).transpose(0, 2, 3, 1, 4, 5).reshape(N * H_out * W_out, C * KH * KW)


def col2im(dcols, x_pad_shape, KH, KW, SH, SW, H_out, W_out):
    """The adjoint of im2col: each row of dcols added back onto the pixels its receptive field came from.

    Offset (p, q) of every window lands on a strided grid of pixels, hit once per window: one add per offset.
    """
    N, C = x_pad_shape[:2]
    d = dcols.reshape(N, H_out, W_out, C, KH, KW)
    dx_pad = get_array_module(dcols).zeros(x_pad_shape, dtype=dcols.dtype)
    for p in range(KH):
        for q in range(KW):
            dx_pad[:, :, p : p + SH * H_out : SH, q : q + SW * W_out : SW] += d[..., p, q].transpose(0, 3, 1, 2)
    return dx_pad


def conv2d_forward(x, w, b, stride, padding):
    """y = conv(x, w) + b, shape (N, F, H_out, W_out); returns (y, cache)."""
    (SH, SW), padding, H_out, W_out = conv2d_geometry(x, w, stride, padding, "conv2d_forward")
    N, F, (KH, KW) = x.shape[0], w.shape[0], w.shape[2:]
    x_pad = pad2d(x, padding)
    cols = im2col(x_pad, KH, KW, SH, SW, H_out, W_out)
    Y = cols @ w.reshape(F, -1).T
    if b is not None:
        Y = Y + b
    y = Y.reshape(N, H_out, W_out, F).transpose(0, 3, 1, 2)
    cache = ConvCache(cols, x_pad.shape, w, b is not None, (SH, SW), padding)
    return get_array_module(x).ascontiguousarray(y), cache


def conv2d_backward(dy, cache, *, need_dx=True):
    """(dx, dw, db) from dy (N, F, H_out, W_out); db is None without a bias, dx None when ``need_dx`` is False."""
    F, _, KH, KW = cache.w.shape
    (SH, SW), (H_out, W_out) = cache.stride, dy.shape[2:]
    dY = dy.transpose(0, 2, 3, 1).reshape(-1, F)
    dw = (dY.T @ cache.cols).reshape(cache.w.shape)
    db = dY.sum(axis=0) if cache.has_bias else None
    if not need_dx:
        return None, dw, db
    dcols = dY @ cache.w.reshape(F, -1)
    dx_pad = col2im(dcols, cache.x_pad_shape, KH, KW, SH, SW, H_out, W_out)
    return get_array_module(dy).ascontiguousarray(unpad2d(dx_pad, cache.padding)), dw, db
