"""Batch normalisation, fast: the plain tier's equations (``minicnn/plain/batchnorm.py``) in cache-sized passes.

The same numbers are computed - (3) the mean, (4) the biased variance, (5) x_hat, (6) y, and the compact
backward - but never as a chain of whole-batch temporaries: the batch is cut into blocks of samples of about
1 MB (``cache_blocks``) and each block goes through all its element-wise passes while it sits in cache, in
place (``bn_forward_apply``, ``bn_backward_apply``). The per-channel sums use ``einsum`` or a contiguous
reduction (``channel_sum``). On the GPU, ``bn_forward_apply`` and ``bn_backward_apply`` are the fused kernels of
``minicnn/kernels/batchnorm.py``; the sums are CuPy's reductions. The cache is the plain tier's.
"""
from __future__ import annotations

import numpy as np

from minicnn import kernels
from minicnn._geometry import cache_blocks
from minicnn.backend import get_array_module
from minicnn.plain.batchnorm import BatchNormCache, batchnorm_update_running, channel_axes


def bn_forward_apply(x, mean, inv_std, gamma, beta):
    """Equations (5)-(6) given the per-channel statistics: returns (x_hat, y).

    x_hat = x - mu, x_hat *= inv_std, y = x_hat * gamma, y += beta: four in-place passes, run one block of
    samples at a time (``cache_blocks``) so that the block stays in cache between them and the batch itself
    is read once and written twice. The per-channel values come spread over a block (``_channel_planes``).
    """
    if get_array_module(x) is not np:
        return kernels.bn_forward_apply(x, mean, inv_std, gamma, beta)
    blocks = cache_blocks(x)
    mean, inv_std, gamma, beta = _channel_planes(x[blocks[0]].shape, mean, inv_std, gamma, beta)
    x_hat, y = np.empty_like(x), np.empty_like(x)
    for block in blocks:
        x_hat_b, y_b = x_hat[block], y[block]
        n = len(x_hat_b)
        np.subtract(x[block], mean[:n], out=x_hat_b)
        x_hat_b *= inv_std[:n]
        np.multiply(x_hat_b, gamma[:n], out=y_b)
        y_b += beta[:n]
    return x_hat, y


def bn_backward_apply(dy, x_hat, gamma, inv_std, sum_dy, sum_dy_xhat, M):
    """The compact backward: dx = (gamma * inv_std / M) * (M dy - sum(dy) - x_hat * sum(dy * x_hat)).

    Computed as ``gamma * inv_std * (dy - sum(dy)/M - x_hat * sum(dy * x_hat)/M)`` - the same expression with
    1/M moved inside - in four in-place passes, one block of samples at a time as in ``bn_forward_apply``.
    """
    if get_array_module(dy) is not np:
        return kernels.bn_backward_apply(dy, x_hat, gamma, inv_std, sum_dy, sum_dy_xhat, M)
    blocks = cache_blocks(dy)
    mean_dy, mean_dy_xhat, scale = _channel_planes(dy[blocks[0]].shape, sum_dy / M, sum_dy_xhat / M, gamma * inv_std)
    dx = np.empty_like(dy)
    for block in blocks:
        dx_b = dx[block]
        n = len(dx_b)
        np.multiply(x_hat[block], mean_dy_xhat[:n], out=dx_b)
        dx_b += mean_dy[:n]
        np.subtract(dy[block], dx_b, out=dx_b)
        dx_b *= scale[:n]
    return dx


def _channel_planes(block_shape, *values):
    """Each (C,) vector spread over a whole block, e.g. (n, C, H, W): v[c] at every [., c, ...].

    NumPy's element-wise loops run about twice as fast on two contiguous operands as on one broadcast from
    (1, C, 1, 1), and one block's worth of copies costs little next to the passes over the batch.
    """
    xp = get_array_module(values[0])
    shape = (1, -1) + (1,) * (len(block_shape) - 2)
    return [xp.ascontiguousarray(xp.broadcast_to(v.reshape(shape), block_shape)) for v in values]


def channel_sum(a, b=None):
    """Per-channel sum over every axis but axis 1 of ``a`` (N, C, ...), or of ``a * b`` without forming it: (C,).

    ``einsum`` multiplies and adds in one pass; for ``a`` alone, summing the contiguous trailing axis first is
    NumPy's fast (and pairwise, hence accurate) reduction.
    """
    xp = get_array_module(a)
    a3 = a.reshape(a.shape[0], a.shape[1], -1)
    if b is None:
        return a3.sum(axis=2).sum(axis=0)
    return xp.einsum("nci,nci->c", a3, b.reshape(a3.shape))


def channel_var(x, mean):
    """Equation (4), biased: per-channel mean of (x - mu)^2.

    Centred one block of samples at a time into one small buffer, so the temporary x - mu stays in cache
    instead of costing a copy of the whole batch as ``x.var`` does.
    """
    xp = get_array_module(x)
    blocks = cache_blocks(x)
    (mean,) = _channel_planes(x[blocks[0]].shape, mean)
    centred = xp.empty_like(mean)
    total = 0
    for block in blocks:
        n = len(x[block])
        xp.subtract(x[block], mean[:n], out=centred[:n])
        total = total + channel_sum(centred[:n], centred[:n])
    return total / (x.size // x.shape[1])


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training mode, equations (1)-(6); returns (y, cache). See ``minicnn.plain.batchnorm_forward``."""
    channel_axes(x)  # checks the shape
    xp = get_array_module(x)
    mean = channel_sum(x) / (x.size // x.shape[1])  # (3)
    var = channel_var(x, mean)  # (4), biased
    inv_std = (1.0 / xp.sqrt(var + eps)).astype(x.dtype)
    x_hat, y = bn_forward_apply(x, mean, inv_std, gamma, beta)  # (5), (6)
    return y, BatchNormCache(x_hat, inv_std, gamma, mean, var)


def batchnorm_backward(dy, cache):
    """Training mode: (dx, dgamma, dbeta). See ``minicnn.plain.batchnorm_backward``."""
    sum_dy, sum_dy_xhat = channel_sum(dy), channel_sum(dy, cache.x_hat)
    M = dy.size // dy.shape[1]
    return bn_backward_apply(dy, cache.x_hat, cache.gamma, cache.inv_std, sum_dy, sum_dy_xhat, M), sum_dy_xhat, sum_dy


def batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """Evaluation mode: (5)-(6) with the running statistics; returns (y, cache)."""
    channel_axes(x)
    xp = get_array_module(x)
    inv_std = (1.0 / xp.sqrt(running_var + eps)).astype(x.dtype)
    x_hat, y = bn_forward_apply(x, running_mean.astype(x.dtype), inv_std, gamma, beta)
    return y, BatchNormCache(x_hat, inv_std, gamma, running_mean, running_var)


def batchnorm_eval_backward(dy, cache):
    """Evaluation mode: (dx, dgamma, dbeta) with dx = gamma * inv_std * dy."""
    _, shape = channel_axes(dy)
    return dy * (cache.gamma * cache.inv_std).reshape(shape), channel_sum(dy, cache.x_hat), channel_sum(dy)


__all__ = ["batchnorm_backward", "batchnorm_eval_backward", "batchnorm_eval_forward", "batchnorm_forward",
           "batchnorm_update_running", "bn_backward_apply", "bn_forward_apply", "channel_sum", "channel_var"]
