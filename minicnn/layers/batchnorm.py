r"""Batch normalisation (Ioffe & Szegedy 2015), numbered as in the paper this project reproduces.

Per channel c, over the M = N*H*W values x_1..x_M that the mini-batch holds for that channel
(M = N for ``BatchNorm1d``)::

    (1)  B = {x_1, ..., x_M}                                 the mini-batch of one channel (the input)
    (2)  y_i = BN_{gamma,beta}(x_i)                          the output, defined by (3)-(6):
    (3)  mu      = 1/M * sum_i x_i                           mini-batch mean
    (4)  sigma^2 = 1/M * sum_i (x_i - mu)^2                  mini-batch variance (biased: divide by M)
    (5)  x_hat_i = (x_i - mu) / sqrt(sigma^2 + eps)          normalise;  inv_std = 1 / sqrt(sigma^2 + eps)
    (6)  y_i     = gamma * x_hat_i + beta                    scale and shift, gamma and beta learned
    (7)-(8)      with gamma = sqrt(Var[x]) and beta = E[x] the layer can undo itself, so it never loses
                 what the previous layer could represent

Training keeps an exponential moving average for evaluation (PyTorch's convention)::

    running_mean = (1 - momentum) * running_mean + momentum * mu
    running_var  = (1 - momentum) * running_var  + momentum * sigma^2 * M / (M - 1)   (unbiased)

and evaluation uses (5)-(6) with running_mean / running_var in place of mu / sigma^2.

Backward (train mode). Write g = dL/dy. The parameters are easy: dbeta = sum_i g_i, dgamma = sum_i g_i x_hat_i.
For x, dL/dx_hat_i = gamma g_i, and every x_j reaches x_hat_i three ways: directly, through mu and through
sigma^2. With d mu/dx_j = 1/M and d sigma^2/dx_j = 2 (x_j - mu)/M::

    dL/dsigma^2 = sum_i gamma g_i (x_i - mu) * (-1/2) inv_std^3
    dL/dmu      = -inv_std sum_i gamma g_i            (the sigma^2 path contributes 0 since sum_i (x_i - mu) = 0)
    dx_j        = gamma g_j inv_std + dL/dsigma^2 * 2 (x_j - mu)/M + dL/dmu / M

and substituting x_j - mu = x_hat_j / inv_std gives the compact form used below::

    dx_j = (gamma * inv_std / M) * (M g_j - sum_i g_i - x_hat_j * sum_i g_i x_hat_i)

so per channel sum_j dx_j = 0 and sum_j dx_j x_hat_j = 0 (the batch statistics absorb any shift or scale).
In eval mode mu and sigma^2 are constants and dx = gamma * inv_std * g.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minicnn._geometry import sample_blocks
from minicnn.backend import get_array_module
from minicnn.layers.base import Layer


def _per_channel(v, ndim):
    """(C,) -> shape that broadcasts along axis 1 of an ndim array: (1, C, 1, 1) or (1, C)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def bn_forward_apply(x, mean, inv_std, gamma, beta):
    """Equations (5)-(6) given the per-channel statistics: returns (x_hat, y).

    x_hat = x - mu, x_hat *= inv_std, y = x_hat * gamma, y += beta: four in-place passes, run one block of
    samples at a time (``sample_blocks``) so that the block stays in cache between them and the batch itself
    is read once and written twice. The per-channel values come spread over a block (``_channel_planes``).
    """
    xp = get_array_module(x)
    if xp is not np:
        from minicnn import kernels

        return kernels.bn_forward_apply(x, mean, inv_std, gamma, beta)
    blocks = sample_blocks(x)
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
    xp = get_array_module(dy)
    if xp is not np:
        from minicnn import kernels

        return kernels.bn_backward_apply(dy, x_hat, gamma, inv_std, sum_dy, sum_dy_xhat, M)
    blocks = sample_blocks(dy)
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
    return [xp.ascontiguousarray(xp.broadcast_to(_per_channel(v, len(block_shape)), block_shape)) for v in values]


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
    blocks = sample_blocks(x)
    (mean,) = _channel_planes(x[blocks[0]].shape, mean)
    centred = xp.empty_like(mean)
    total = 0
    for block in blocks:
        n = len(x[block])
        xp.subtract(x[block], mean[:n], out=centred[:n])
        total = total + channel_sum(centred[:n], centred[:n])
    return total / (x.size // x.shape[1])


@dataclass
class BatchNormCache:
    x_hat: np.ndarray  # normalised input, same shape as x
    inv_std: np.ndarray  # (C,) 1 / sqrt(var + eps), batch or running variance
    train: bool  # whether the batch statistics (train) or the running ones (eval) were used


class _BatchNorm(Layer):
    """Shared code of BatchNorm1d (N, C) and BatchNorm2d (N, C, H, W); see the module docstring."""

    ndim = None  # 2 or 4, set by the subclass
    layout = None

    def __init__(self, num_features, eps=1e-5, momentum=0.1, *, name=None, dtype=np.float32):
        super().__init__(name)
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), float(momentum)
        C = self.num_features
        self.params["gamma"] = np.ones(C, dtype=dtype)
        self.params["beta"] = np.zeros(C, dtype=dtype)
        self.buffers["running_mean"] = np.zeros(C, dtype=dtype)
        self.buffers["running_var"] = np.ones(C, dtype=dtype)

    def forward(self, x, train=True):
        self._check_input(x, self.ndim, self.num_features, self.layout)
        gamma, beta = self.params["gamma"], self.params["beta"]
        if train:
            M = x.size // self.num_features
            if M < 2:
                raise ValueError(f"{self!r}: training needs more than one value per channel, got shape {tuple(x.shape)}")
            mean = channel_sum(x) / M  # (3)
            var = channel_var(x, mean)  # (4), biased
            m = self.momentum
            self.buffers["running_mean"] = (1 - m) * self.buffers["running_mean"] + m * mean
            self.buffers["running_var"] = (1 - m) * self.buffers["running_var"] + m * var * (M / (M - 1))
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        xp = get_array_module(x)
        inv_std = (1.0 / xp.sqrt(var + self.eps)).astype(x.dtype)
        x_hat, y = bn_forward_apply(x, mean.astype(x.dtype), inv_std, gamma, beta)  # (5), (6)
        self._cache = BatchNormCache(x_hat, inv_std, train)
        return y

    def backward(self, dy):
        cache = self._require_cache()
        if tuple(dy.shape) != tuple(cache.x_hat.shape):
            raise ValueError(f"{self!r}: dy has shape {tuple(dy.shape)}, expected {tuple(cache.x_hat.shape)}")
        gamma = self.params["gamma"]
        sum_dy = channel_sum(dy)
        sum_dy_xhat = channel_sum(dy, cache.x_hat)
        self.grads["beta"] = sum_dy
        self.grads["gamma"] = sum_dy_xhat
        if cache.train:
            M = dy.size // self.num_features
            return bn_backward_apply(dy, cache.x_hat, gamma, cache.inv_std, sum_dy, sum_dy_xhat, M)
        return dy * _per_channel(gamma * cache.inv_std, dy.ndim)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W): statistics per channel over N, H and W."""

    ndim, layout = 4, "(N, C, H, W)"


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C): statistics per feature over the batch."""

    ndim, layout = 2, "(N, C)"
