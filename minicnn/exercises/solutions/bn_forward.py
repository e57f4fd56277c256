"""Exercise bn_forward: batch normalisation's forward pass in training mode (docs/batchnorm.md, section 2.2).

For each channel c, over its M values (M = N for x of shape (N, C); M = N*H*W for (N, C, H, W)):

    (3) mu      = (1/M) sum_i x_i
    (4) var     = (1/M) sum_i (x_i - mu)^2            biased: divide by M, not M - 1
    (5) x_hat_i = (x_i - mu) / sqrt(var + eps)
    (6) y_i     = gamma * x_hat_i + beta
"""
import numpy as np


def batchnorm_forward_loops(x, gamma, beta, eps=1e-5):
    """The same as ``batchnorm_forward``, written with Python loops over channels and values: -> y."""
    N, C = x.shape[:2]
    y = np.empty_like(x)
    for c in range(C):
        values = [v for n in range(N) for v in np.ravel(x[n, c])]       # the M values of channel c
        M = len(values)
        mu = sum(values) / M                                            # (3)
        var = sum((v - mu) ** 2 for v in values) / M                    # (4)
        for n in range(N):
            y[n, c] = gamma[c] * (x[n, c] - mu) / np.sqrt(var + eps) + beta[c]   # (5), (6)
    return y


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """x (N, C) or (N, C, H, W), gamma and beta (C,) -> (y, cache) with cache = (x_hat, inv_std)."""
    axes = (0,) + tuple(range(2, x.ndim))             # every axis but the channel axis
    shape = (1, -1) + (1,) * (x.ndim - 2)             # (C,) -> broadcastable against x
    mu = x.mean(axis=axes)                            # (3)
    var = ((x - mu.reshape(shape)) ** 2).mean(axis=axes)   # (4)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mu.reshape(shape)) * inv_std.reshape(shape)   # (5)
    y = gamma.reshape(shape) * x_hat + beta.reshape(shape)     # (6)
    return y, (x_hat, inv_std)
