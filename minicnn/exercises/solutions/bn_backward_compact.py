"""Exercise bn_backward_compact: batch normalisation's backward pass as one formula (docs/batchnorm.md 2.3, step 4).

The forward pass is given. For each channel, with the M values of that channel and g = dy:

    dbeta  = sum_i g_i
    dgamma = sum_i g_i x_hat_i
    dx_j   = (gamma * inv_std / M) * (M g_j - sum_i g_i - x_hat_j * sum_i g_i x_hat_i)

Two reductions and one element-wise pass; the cache needs only x_hat, inv_std and gamma.
"""
import numpy as np


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Given (do not change): x (N, C) or (N, C, H, W) -> (y, cache)."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes)
    var = ((x - mu.reshape(shape)) ** 2).mean(axis=axes)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mu.reshape(shape)) * inv_std.reshape(shape)
    y = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    return y, {"x_hat": x_hat, "inv_std": inv_std, "gamma": gamma}


def batchnorm_backward(dy, cache):
    """dy like x -> (dx like x, dgamma (C,), dbeta (C,))."""
    x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
    axes = (0,) + tuple(range(2, dy.ndim))
    shape = (1, -1) + (1,) * (dy.ndim - 2)
    M = dy.size // dy.shape[1]
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * x_hat).sum(axis=axes)
    dx = (gamma * inv_std / M).reshape(shape) * (M * dy - dbeta.reshape(shape) - x_hat * dgamma.reshape(shape))
    return dx, dgamma, dbeta
