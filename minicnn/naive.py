"""Loop-by-loop convolution and max pooling: slow, obviously correct, an oracle of both tiers.

These follow the defining sums literally (see ``minicnn.plain.conv`` and ``minicnn.plain.pool``); tests check
the im2col/GEMM and strided versions against them. ``x_pad`` is the already padded input.
"""
from __future__ import annotations

import numpy as np


def conv2d_forward(x_pad, weight, bias, stride):
    """y[n, f, i, j] = b[f] + sum_{c, p, q} W[f, c, p, q] * x_pad[n, c, i*SH + p, j*SW + q]."""
    N, C, Hp, Wp = x_pad.shape
    F, _, KH, KW = weight.shape
    SH, SW = stride
    H_out, W_out = (Hp - KH) // SH + 1, (Wp - KW) // SW + 1
    y = np.zeros((N, F, H_out, W_out), dtype=x_pad.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    patch = x_pad[n, :, i * SH : i * SH + KH, j * SW : j * SW + KW]
                    y[n, f, i, j] = np.sum(patch * weight[f]) + (0 if bias is None else bias[f])
    return y


def conv2d_backward(dy, x_pad, weight, stride):
    """Every output y[n, f, i, j] touched W[f] and one patch of x_pad; send dy back along both. -> (dx_pad, dW, db)."""
    N, F, H_out, W_out = dy.shape
    _, _, KH, KW = weight.shape
    SH, SW = stride
    dx_pad, dW = np.zeros_like(x_pad), np.zeros_like(weight)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    rows, cols = slice(i * SH, i * SH + KH), slice(j * SW, j * SW + KW)
                    dW[f] += dy[n, f, i, j] * x_pad[n, :, rows, cols]
                    dx_pad[n, :, rows, cols] += dy[n, f, i, j] * weight[f]
    return dx_pad, dW, dy.sum(axis=(0, 2, 3))


def maxpool_forward(x_pad, kernel_size, stride):
    """y = window maximum; argmax = first row-major offset p*KW + q holding it."""
    N, C, Hp, Wp = x_pad.shape
    (KH, KW), (SH, SW) = kernel_size, stride
    H_out, W_out = (Hp - KH) // SH + 1, (Wp - KW) // SW + 1
    y = np.zeros((N, C, H_out, W_out), dtype=x_pad.dtype)
    argmax = np.zeros((N, C, H_out, W_out), dtype=np.int32)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x_pad[n, c, i * SH : i * SH + KH, j * SW : j * SW + KW]
                    k = int(np.argmax(window))  # np.argmax returns the first maximum
                    argmax[n, c, i, j], y[n, c, i, j] = k, window.flat[k]
    return y, argmax


def maxpool_backward(dy, argmax, x_pad_shape, kernel_size, stride):
    """dx_pad[winner of window (i, j)] += dy[i, j]."""
    (KH, KW), (SH, SW) = kernel_size, stride
    dx_pad = np.zeros(x_pad_shape, dtype=dy.dtype)
    N, C, H_out, W_out = dy.shape
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    p, q = divmod(int(argmax[n, c, i, j]), KW)
                    dx_pad[n, c, i * SH + p, j * SW + q] += dy[n, c, i, j]
    return dx_pad
