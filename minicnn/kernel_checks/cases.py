"""Random, valid arguments for every kernel launcher (and its NumPy reference, which takes the same ones).

One function per launcher, same name; each returns the argument tuple, NumPy arrays on the host. The tests,
``python -m minicnn.selfcheck`` and the benchmarks all draw their inputs here, so that "valid input" means the
same thing everywhere: pool inputs padded with -inf and full of ties, ReLU inputs with exact zeros and NaN,
dropout uniforms that hit ``p_drop`` exactly, and so on. Sizes need not give integral output sizes: the
kernels must then ignore the leftover rows and columns exactly as the references do.
"""
from __future__ import annotations

import numpy as np

from minicnn._geometry import pad2d
from minicnn.fast.pool import maxpool_forward as reference_forward
from minicnn.losses import softmax


def _padded(rng, dtype, N, C, H, W, pad, fill, ties=False):
    """A random (N, C, H, W) batch, padded with ``fill``; with ``ties``, small integers so windows tie."""
    x = rng.integers(-4, 5, (N, C, H, W)) if ties else rng.standard_normal((N, C, H, W))
    return pad2d(x.astype(dtype), pad, value=fill)


def _out(size, k, s):
    return (size - k) // s + 1


def im2col(rng, dtype, N=2, C=3, H=9, W=11, KH=3, KW=3, SH=2, SW=2, pad=((1, 0), (2, 1))):
    x_pad = _padded(rng, dtype, N, C, H, W, pad, 0.0)
    Hp, Wp = x_pad.shape[2:]
    return x_pad, KH, KW, SH, SW, _out(Hp, KH, SH), _out(Wp, KW, SW)


def col2im(rng, dtype, N=2, C=3, H=9, W=11, KH=3, KW=3, SH=2, SW=2, pad=((1, 0), (2, 1))):
    (top, bottom), (left, right) = pad
    Hp, Wp = H + top + bottom, W + left + right
    H_out, W_out = _out(Hp, KH, SH), _out(Wp, KW, SW)
    dcols = rng.standard_normal((N * H_out * W_out, C * KH * KW)).astype(dtype)
    return dcols, (N, C, Hp, Wp), KH, KW, SH, SW, H_out, W_out


def maxpool_forward(rng, dtype, N=2, C=3, H=9, W=11, KH=3, KW=3, SH=2, SW=2, pad=((1, 1), (0, 1)), ties=True):
    x_pad = _padded(rng, dtype, N, C, H, W, pad, -np.inf, ties)
    Hp, Wp = x_pad.shape[2:]
    return x_pad, KH, KW, SH, SW, _out(Hp, KH, SH), _out(Wp, KW, SW)


def maxpool_backward(rng, dtype, N=2, C=3, H=9, W=11, KH=3, KW=3, SH=2, SW=2, pad=((1, 1), (0, 1)), ties=True):
    x_pad, KH, KW, SH, SW, H_out, W_out = maxpool_forward(rng, dtype, N, C, H, W, KH, KW, SH, SW, pad, ties)
    _, argmax = reference_forward(x_pad, KH, KW, SH, SW, H_out, W_out)
    dy = rng.standard_normal(argmax.shape).astype(dtype)
    return dy, argmax, x_pad.shape, KH, KW, SH, SW


def _shape(N, C, H, W):
    return (N, C) if H is None else (N, C, H, W)


def bn_forward_apply(rng, dtype, N=3, C=5, H=7, W=9, eps=1e-5):
    x = (3.0 * rng.standard_normal(_shape(N, C, H, W)) + 1.0).astype(dtype)
    axes = (0,) + tuple(range(2, x.ndim))
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    inv_std = (1.0 / np.sqrt(var + eps)).astype(dtype)
    gamma, beta = (rng.standard_normal((2, C)) + [[1.0], [0.0]]).astype(dtype)
    return x, mean.astype(dtype), inv_std, gamma, beta


def bn_backward_apply(rng, dtype, N=3, C=5, H=7, W=9):
    x, mean, inv_std, gamma, _ = bn_forward_apply(rng, dtype, N, C, H, W)
    shape = (1, C) + (1,) * (x.ndim - 2)
    x_hat = (x - mean.reshape(shape)) * inv_std.reshape(shape)
    dy = rng.standard_normal(x.shape).astype(dtype)
    axes = (0,) + tuple(range(2, x.ndim))
    return dy, x_hat, gamma, inv_std, dy.sum(axis=axes), (dy * x_hat).sum(axis=axes), x.size // C


def _with_specials(x, rng, values):
    """Overwrite a few random entries of ``x`` with each of ``values``."""
    flat = x.reshape(-1)
    for value in values:
        flat[rng.integers(0, flat.size, max(1, flat.size // 50))] = value
    return x


def relu_forward_apply(rng, dtype, N=3, C=5, H=7, W=9):
    x = rng.standard_normal(_shape(N, C, H, W)).astype(dtype)
    return (_with_specials(x, rng, [0.0, -0.0, np.nan, np.inf, -np.inf]),)


def relu_backward_apply(rng, dtype, N=3, C=5, H=7, W=9):
    y = np.maximum(_with_specials(rng.standard_normal(_shape(N, C, H, W)).astype(dtype), rng, [0.0]), 0)
    return rng.standard_normal(y.shape).astype(dtype), y


def dropout_forward_apply(rng, dtype, N=3, C=5, H=7, W=9, p_drop=0.7):
    """p_drop = 0.7 rounds *down* in float32, so u == float32(p_drop) is kept only if the comparison is done
    in float32 as NumPy does it; the uniforms include that value and its neighbours."""
    x = rng.standard_normal(_shape(N, C, H, W)).astype(dtype)
    p = np.dtype(dtype).type(p_drop)
    u = _with_specials(rng.random(x.shape, dtype=dtype), rng, [p, np.nextafter(p, 0), np.nextafter(p, 1)])
    return x, u, p_drop


def cross_entropy_grad(rng, dtype, N=37, K=5, weighted=True):
    probs = softmax(3.0 * rng.standard_normal((N, K)).astype(dtype))
    labels = rng.integers(0, K, N)  # int64, as labels usually arrive
    if weighted:
        sample_weights = (0.5 + rng.random(K)).astype(dtype)[labels]
    else:
        sample_weights = np.ones(N, dtype=dtype)
    return probs, labels, sample_weights, sample_weights.sum()
