"""Exercise bn_backward_compact: batch normalisation's backward pass as one formula (docs/batchnorm.md 2.3, step 4).

The forward pass is given. Derive (or look up) the compact backward and write it: per channel, two reductions
over the channel's M values and one element-wise pass. Return dgamma and dbeta too.
Check with:  python -m minicnn.exercises check bn_backward_compact --file THIS_FILE
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
    raise NotImplementedError("derive dx per channel (docs/batchnorm.md 2.3); the cache holds x_hat, inv_std and gamma")
