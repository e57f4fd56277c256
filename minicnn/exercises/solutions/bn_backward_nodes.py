"""Exercise bn_backward_nodes: batch normalisation's backward pass, one node of the graph at a time.

docs/batchnorm.md, section 2.3 ("The same result the long way"). Input x of shape (M, C): M values per
channel. The forward pass (training mode) is

    mu = mean(x, axis 0);  var = mean((x - mu)^2, axis 0);  s = 1 / sqrt(var + eps)
    x_hat = (x - mu) * s;  y = gamma * x_hat + beta

Given dy = dL/dy, return every intermediate gradient, node by node:

    dbeta  = sum_i dy_i                     dgamma = sum_i dy_i x_hat_i
    dx_hat = gamma dy
    dvar   = sum_i dx_hat_i (x_i - mu) * (-1/2) s^3
    dmu    = -s sum_i dx_hat_i + dvar * (-2/M) sum_i (x_i - mu)
    dx     = dx_hat s + dvar * 2 (x - mu) / M + dmu / M
"""
import numpy as np


def batchnorm_backward_nodes(dy, x, gamma, eps=1e-5):
    """dy, x (M, C), gamma (C,) -> dict with keys dbeta, dgamma, dx_hat, dvar, dmu, dx."""
    M = x.shape[0]
    mu = x.mean(axis=0)
    centred = x - mu
    var = (centred ** 2).mean(axis=0)
    s = 1.0 / np.sqrt(var + eps)
    x_hat = centred * s
    grads = {"dbeta": dy.sum(axis=0), "dgamma": (dy * x_hat).sum(axis=0)}
    dx_hat = gamma * dy
    dvar = (dx_hat * centred).sum(axis=0) * -0.5 * s ** 3
    dmu = -s * dx_hat.sum(axis=0) + dvar * (-2.0 / M) * centred.sum(axis=0)
    dx = dx_hat * s + dvar * 2.0 * centred / M + dmu / M
    grads.update(dx_hat=dx_hat, dvar=dvar, dmu=dmu, dx=dx)
    return grads
