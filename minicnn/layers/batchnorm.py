r"""``BatchNorm2d`` and ``BatchNorm1d``: batch normalisation layers. They hold gamma, beta and the running
statistics, and call the selected tier.

The algorithm, numbered with the paper's equations (1)-(8), forward above backward, is
``minicnn/plain/batchnorm.py``: ``minicnn.plain.batchnorm_forward`` / ``batchnorm_backward`` in training,
``batchnorm_eval_forward`` / ``batchnorm_eval_backward`` in evaluation, ``batchnorm_update_running`` for the
running statistics. How it is made fast (cache-sized in-place passes, fused GPU kernels) is
``minicnn/fast/batchnorm.py``. In one line each, per channel over its M = N*H*W values (M = N for BatchNorm1d)::

    (3) mu = mean(x)   (4) sigma^2 = mean((x - mu)^2)   (5) x_hat = (x - mu) * inv_std   (6) y = gamma * x_hat + beta
    dx = (gamma * inv_std / M) * (M dy - sum(dy) - x_hat * sum(dy * x_hat)),   inv_std = 1 / sqrt(sigma^2 + eps)

so per channel sum_j dx_j = 0 exactly, and sum_j dx_j x_hat_j = 0 exactly only at eps = 0 (for eps > 0 it is
gamma * inv_std * sum(dy * x_hat) * eps * inv_std^2, small next to the terms it comes from).
"""
from __future__ import annotations

import numpy as np

from minicnn import tiers
from minicnn.layers.base import Layer


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
        self._train = True  # the mode of the last forward pass, which decides the backward

    def forward(self, x, train=True):
        self._check_input(x, self.ndim, self.num_features, self.layout)
        ops = self._ops = tiers.ops()
        gamma, beta, running = self.params["gamma"], self.params["beta"], self.buffers
        self._train = train
        if not train:
            y, self._cache = ops.batchnorm_eval_forward(x, gamma, beta, running["running_mean"],
                                                        running["running_var"], self.eps)
            return y
        if x.size // self.num_features < 2:
            raise ValueError(f"{self!r}: training needs more than one value per channel, got shape {tuple(x.shape)}")
        y, self._cache = ops.batchnorm_forward(x, gamma, beta, self.eps)  # (1)-(6)
        running["running_mean"], running["running_var"] = ops.batchnorm_update_running(
            running["running_mean"], running["running_var"], self._cache, self.momentum)
        return y

    def backward(self, dy):
        cache = self._require_cache()
        if tuple(dy.shape) != tuple(cache.x_hat.shape):
            raise ValueError(f"{self!r}: dy has shape {tuple(dy.shape)}, expected {tuple(cache.x_hat.shape)}")
        backward = self._ops.batchnorm_backward if self._train else self._ops.batchnorm_eval_backward
        dx, self.grads["gamma"], self.grads["beta"] = backward(dy, cache)
        return dx


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W): statistics per channel over N, H and W."""

    ndim, layout = 4, "(N, C, H, W)"


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C): statistics per feature over the batch."""

    ndim, layout = 2, "(N, C)"
