"""2-D convolution as im2col + one matrix product (GEMM).

Forward, for a filter bank W of shape (F, C, KH, KW), bias b (F,), stride (SH, SW)::

    y[n, f, i, j] = b[f] + sum_{c, p, q} W[f, c, p, q] * x_pad[n, c, i*SH + p, j*SW + q]

im2col lays every receptive field out as one row, so the whole sum becomes one GEMM::

    cols  (N*H_out*W_out, C*KH*KW)     cols[(n, i, j), (c, p, q)] = x_pad[n, c, i*SH + p, j*SW + q]
    Y     = cols @ W.reshape(F, -1).T  (N*H_out*W_out, F)  -> reshaped to (N, F, H_out, W_out)

Backward, with dY the upstream gradient reshaped like Y::

    dW    = dY.T @ cols                (F, C*KH*KW)  + l2 * W   (the L2 penalty 0.5 * l2 * ||W||^2)
    db    = sum of dY over rows        (F,)
    dcols = dY @ W.reshape(F, -1)      (N*H_out*W_out, C*KH*KW)
    dx    = col2im(dcols)              every patch gradient added back where its patch came from

``minicnn.naive.conv2d_forward`` / ``conv2d_backward`` are the same maths as plain loops, the oracle in tests.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minicnn._geometry import normalize_pair, normalize_padding, output_size, pad2d, unpad2d, windows
from minicnn.backend import get_array_module
from minicnn.init import he_std
from minicnn.layers.base import Layer


def im2col(x_pad, KH, KW, SH, SW, H_out, W_out):
    """(N, C, Hp, Wp) padded input -> cols (N*H_out*W_out, C*KH*KW): a strided view, then one copy."""
    xp = get_array_module(x_pad)
    if xp is not np:
        from minicnn import kernels

        return kernels.im2col(x_pad, KH, KW, SH, SW, H_out, W_out)
    N, C = x_pad.shape[:2]
    patches = windows(x_pad, KH, KW, SH, SW)  # (N, C, H_out, W_out, KH, KW), a view
    return np.ascontiguousarray(patches.transpose(0, 2, 3, 1, 4, 5)).reshape(N * H_out * W_out, C * KH * KW)


def col2im(dcols, x_pad_shape, KH, KW, SH, SW, H_out, W_out):
    """Adjoint of im2col: add each row of ``dcols`` back onto the input pixels its patch came from.

    One strided add per kernel offset (p, q) - KH*KW vectorised adds instead of ``np.add.at``.
    """
    xp = get_array_module(dcols)
    if xp is not np:
        from minicnn import kernels

        return kernels.col2im(dcols, x_pad_shape, KH, KW, SH, SW, H_out, W_out)
    N, C, Hp, Wp = x_pad_shape
    d = dcols.reshape(N, H_out, W_out, C, KH, KW).transpose(0, 3, 1, 2, 4, 5)  # (N, C, H_out, W_out, KH, KW)
    dx_pad = np.zeros(x_pad_shape, dtype=dcols.dtype)
    for p in range(KH):
        for q in range(KW):
            dx_pad[:, :, p : p + SH * H_out : SH, q : q + SW * W_out : SW] += d[:, :, :, :, p, q]
    return dx_pad


@dataclass
class ConvCache:
    cols: np.ndarray  # (N*H_out*W_out, C*KH*KW) the im2col matrix of the padded input
    x_pad_shape: tuple
    H_out: int
    W_out: int


class Conv2d(Layer):
    """Convolution over an (N, C, H, W) batch with F filters of size KH x KW (PyTorch's layout and maths).

    ``padding`` is an int, ``(ph, pw)`` or ``((top, bottom), (left, right))``. ``l2`` adds ``l2 * W`` to the
    weight gradient (penalty ``0.5 * l2 * ||W||^2``; never on the bias). Weights start He-normal
    (std = sqrt(2 / fan_in)) from ``rng``; ``minicnn.init`` re-initialises a model another way.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, *,
                 l2=0.0, name=None, rng=None, dtype=np.float32):
        super().__init__(name)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = normalize_pair(kernel_size, "kernel_size")
        self.stride = normalize_pair(stride, "stride")
        self.padding = normalize_padding(padding)
        self.l2 = float(l2)
        KH, KW = self.kernel_size
        rng = np.random.default_rng() if rng is None else rng
        shape = (self.out_channels, self.in_channels, KH, KW)
        self.params["weight"] = rng.normal(0.0, he_std(shape), size=shape).astype(dtype)
        if bias:
            self.params["bias"] = np.zeros(self.out_channels, dtype=dtype)

    def output_shape(self, H, W):
        (KH, KW), (SH, SW) = self.kernel_size, self.stride
        return (output_size(H, KH, SH, self.padding[0], self, "height"),
                output_size(W, KW, SW, self.padding[1], self, "width"))

    def forward(self, x, train=True):
        self._check_input(x, 4, self.in_channels)
        N, _, H, W = x.shape
        H_out, W_out = self.output_shape(H, W)
        (KH, KW), (SH, SW) = self.kernel_size, self.stride
        x_pad = pad2d(x, self.padding)
        cols = im2col(x_pad, KH, KW, SH, SW, H_out, W_out)
        weight = self.params["weight"]
        y = cols @ weight.reshape(self.out_channels, -1).T  # (N*H_out*W_out, F)
        if "bias" in self.params:
            y += self.params["bias"]
        self._cache = ConvCache(cols, x_pad.shape, H_out, W_out)
        xp = get_array_module(x)
        return xp.ascontiguousarray(y.reshape(N, H_out, W_out, self.out_channels).transpose(0, 3, 1, 2))

    def backward(self, dy):
        cache = self._require_cache()
        N, F = dy.shape[0], self.out_channels
        if tuple(dy.shape) != (cache.x_pad_shape[0], F, cache.H_out, cache.W_out):
            raise ValueError(f"{self!r}: dy has shape {tuple(dy.shape)}, expected "
                             f"{(cache.x_pad_shape[0], F, cache.H_out, cache.W_out)} (the forward output)")
        weight = self.params["weight"]
        dy_rows = dy.transpose(0, 2, 3, 1).reshape(-1, F)  # (N*H_out*W_out, F), one copy
        self.grads["weight"] = (dy_rows.T @ cache.cols).reshape(weight.shape)
        if self.l2:
            self.grads["weight"] += self.l2 * weight
        if "bias" in self.params:
            self.grads["bias"] = dy_rows.sum(axis=0)
        dcols = dy_rows @ weight.reshape(F, -1)
        (KH, KW), (SH, SW) = self.kernel_size, self.stride
        dx_pad = col2im(dcols, cache.x_pad_shape, KH, KW, SH, SW, cache.H_out, cache.W_out)
        return unpad2d(dx_pad, self.padding)
