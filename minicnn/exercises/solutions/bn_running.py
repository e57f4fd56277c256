"""Exercise bn_running: running statistics and evaluation mode (docs/batchnorm.md, section 2.5).

In training, after normalising a batch with its own (biased) statistics, BN updates per channel

    running_mean = (1 - momentum) * running_mean + momentum * mu
    running_var  = (1 - momentum) * running_var  + momentum * var_unbiased     var_unbiased = var * M / (M - 1)

In evaluation, the running statistics take the place of the batch's:

    y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta

a fixed affine map per channel, so its backward has only the direct path (mu and var are constants now):

    dx = gamma * dy / sqrt(running_var + eps);  dgamma = sum(dy * x_hat);  dbeta = sum(dy)
"""
import numpy as np


def update_running_statistics(running_mean, running_var, x, momentum=0.1):
    """x (N, C) or (N, C, H, W) -> (new running_mean, new running_var), both (C,); the inputs are not changed."""
    axes = (0,) + tuple(range(2, x.ndim))
    M = x.size // x.shape[1]
    mu = x.mean(axis=axes)
    var_unbiased = x.var(axis=axes) * M / (M - 1)
    return ((1 - momentum) * running_mean + momentum * mu,
            (1 - momentum) * running_var + momentum * var_unbiased)


def batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """Evaluation mode: a fixed affine map per channel. x (N, C) or (N, C, H, W) -> y like x."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    inv_std = 1.0 / np.sqrt(running_var + eps)
    return gamma.reshape(shape) * (x - running_mean.reshape(shape)) * inv_std.reshape(shape) + beta.reshape(shape)


def batchnorm_eval_backward(dy, x, gamma, running_mean, running_var, eps=1e-5):
    """The backward pass of ``batchnorm_eval_forward``: dy like x -> (dx like x, dgamma (C,), dbeta (C,))."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    inv_std = (1.0 / np.sqrt(running_var + eps)).reshape(shape)
    x_hat = (x - running_mean.reshape(shape)) * inv_std
    return gamma.reshape(shape) * inv_std * dy, (dy * x_hat).sum(axis=axes), dy.sum(axis=axes)
