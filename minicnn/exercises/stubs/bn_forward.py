"""Exercise bn_forward: batch normalisation's forward pass in training mode (docs/batchnorm.md, section 2.2).

For each channel c, over its M values (M = N for x of shape (N, C); M = N*H*W for (N, C, H, W)):

    (3) mu      = (1/M) sum_i x_i
    (4) var     = (1/M) sum_i (x_i - mu)^2            biased: divide by M, not M - 1
    (5) x_hat_i = (x_i - mu) / sqrt(var + eps)
    (6) y_i     = gamma * x_hat_i + beta

Write it twice: once with plain Python loops (slow, obviously right), once vectorised with NumPy.
Check with:  python -m minicnn.exercises check bn_forward --file THIS_FILE
"""
import numpy as np


def batchnorm_forward_loops(x, gamma, beta, eps=1e-5):
    """The same as ``batchnorm_forward``, written with Python loops over channels and values: -> y."""
    raise NotImplementedError("loop over channels c; collect the M values of channel c; apply (3)-(6)")


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """x (N, C) or (N, C, H, W), gamma and beta (C,) -> (y, cache); the cache is yours (the checker reads only y)."""
    raise NotImplementedError("reduce over every axis but axis 1; reshape (C,) arrays to broadcast against x")
