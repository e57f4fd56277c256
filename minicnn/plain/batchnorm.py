r"""Batch normalisation (Ioffe & Szegedy 2015), plain, numbered as the paper this project reproduces numbers it.

For x (N, C) or (N, C, H, W), per channel c over the M = N*H*W values the mini-batch holds for it (M = N for
(N, C)), in training mode::

    (1)  B = {x_1, ..., x_M}                                 the mini-batch of one channel (the input)
    (2)  y_i = BN_{gamma,beta}(x_i)                          the output, defined by (3)-(6):
    (3)  mu      = 1/M * sum_i x_i                           mini-batch mean
    (4)  sigma^2 = 1/M * sum_i (x_i - mu)^2                  mini-batch variance (biased: divide by M)
    (5)  x_hat_i = (x_i - mu) / sqrt(sigma^2 + eps)          normalise;  inv_std = 1 / sqrt(sigma^2 + eps)
    (6)  y_i     = gamma * x_hat_i + beta                    scale and shift, gamma and beta learned
    (7)  gamma = sqrt(Var[x]) and (8) beta = E[x]            give y = x: the layer can undo itself

Backward, with g = dL/dy and every sum over the M values of the channel (derived in docs/batchnorm.md)::

    dbeta  = sum_i g_i                 dgamma = sum_i g_i x_hat_i
    dx_j   = (gamma * inv_std / M) * (M g_j - sum_i g_i - x_hat_j * sum_i g_i x_hat_i)

Two identities follow: sum_j dx_j = 0 always (the batch mean absorbs any shift), and sum_j dx_j x_hat_j = 0
exactly only at eps = 0, where x_hat has variance 1; for eps > 0 it is gamma * inv_std^3 * eps * sum_i g_i x_hat_i.

Evaluation uses (5)-(6) with the running statistics in place of mu and sigma^2, so it is an affine map per
channel and dx = gamma * inv_std * g. Training keeps those running statistics up to date, PyTorch's way::

    running_mean = (1 - momentum) * running_mean + momentum * mu
    running_var  = (1 - momentum) * running_var  + momentum * sigma^2 * M / (M - 1)     (unbiased)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minicnn.backend import get_array_module


@dataclass
class BatchNormCache:
    x_hat: np.ndarray  # normalised input, same shape as x
    inv_std: np.ndarray  # (C,) 1 / sqrt(var + eps)
    gamma: np.ndarray  # (C,)
    mean: np.ndarray  # (C,) the statistics used: the batch's (3) in training, the running ones in evaluation
    var: np.ndarray  # (C,) biased batch variance (4) in training, running_var in evaluation


def channel_axes(x):
    """The axes a channel's values lie along, and the shape that spreads a (C,) vector over x: ((0, 2, 3), (1, C, 1, 1))."""
    if x.ndim not in (2, 4):
        raise ValueError(f"batch norm: expected x of shape (N, C) or (N, C, H, W), got {tuple(x.shape)}")
    return (0,) + tuple(range(2, x.ndim)), (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training mode, equations (1)-(6): y, normalised with the batch's own statistics; returns (y, cache)."""
    xp = get_array_module(x)
    axes, shape = channel_axes(x)
    mean = x.mean(axis=axes)                                      # (3)
    var = ((x - mean.reshape(shape)) ** 2).mean(axis=axes)        # (4), biased
    inv_std = 1 / xp.sqrt(var + eps)
    x_hat = (x - mean.reshape(shape)) * inv_std.reshape(shape)    # (5)
    y = gamma.reshape(shape) * x_hat + beta.reshape(shape)        # (6)
    return y, BatchNormCache(x_hat, inv_std, gamma, mean, var)


def batchnorm_backward(dy, cache):
    """Training mode: (dx, dgamma, dbeta), the gradient flowing through the batch statistics too."""
    axes, shape = channel_axes(dy)
    M = dy.size // dy.shape[1]
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * cache.x_hat).sum(axis=axes)
    scale = (cache.gamma * cache.inv_std / M).reshape(shape)
    dx = scale * (M * dy - dbeta.reshape(shape) - cache.x_hat * dgamma.reshape(shape))
    return dx, dgamma, dbeta


def batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """Evaluation mode: (5)-(6) with the running statistics; returns (y, cache)."""
    xp = get_array_module(x)
    _, shape = channel_axes(x)
    inv_std = 1 / xp.sqrt(running_var + eps)
    x_hat = (x - running_mean.reshape(shape)) * inv_std.reshape(shape)
    y = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    return y, BatchNormCache(x_hat, inv_std, gamma, running_mean, running_var)


def batchnorm_eval_backward(dy, cache):
    """Evaluation mode: (dx, dgamma, dbeta) with dx = gamma * inv_std * dy (the statistics are constants)."""
    axes, shape = channel_axes(dy)
    dx = (cache.gamma * cache.inv_std).reshape(shape) * dy
    return dx, (dy * cache.x_hat).sum(axis=axes), dy.sum(axis=axes)


def batchnorm_update_running(running_mean, running_var, cache, momentum):
    """The new (running_mean, running_var) after a training-mode forward pass that returned ``cache``."""
    M = cache.x_hat.size // cache.x_hat.shape[1]
    new_mean = (1 - momentum) * running_mean + momentum * cache.mean
    new_var = (1 - momentum) * running_var + momentum * cache.var * (M / (M - 1))
    return new_mean, new_var
