"""Fully connected layer: y = x @ W.T + b for x (N, in_features), W (out_features, in_features).

Backward::

    dW = dy.T @ x + l2 * W     (penalty 0.5 * l2 * ||W||^2; never on the bias)
    db = sum_n dy[n]
    dx = dy @ W

The weight gradient is written into last step's ``grads["weight"]`` when it has the right shape (no fresh
150 MB array per step for AlexNet's fc6); ``needs_input_grad = False`` skips dx, as for ``Conv2d``.
"""
from __future__ import annotations

import numpy as np

from minicnn.backend import get_array_module
from minicnn.init import he_std
from minicnn.layers.base import Layer
from minicnn.layers.conv import _grad_buffer


class Linear(Layer):
    """Affine map with PyTorch's weight layout (out_features, in_features); He-normal weights from ``rng``.

    ``needs_input_grad`` (default True): when False, ``backward`` fills the parameter gradients only and returns
    None.
    """

    needs_input_grad = True

    def __init__(self, in_features, out_features, bias=True, *, l2=0.0, name=None, rng=None, dtype=np.float32):
        super().__init__(name)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.l2 = float(l2)
        rng = np.random.default_rng() if rng is None else rng
        shape = (self.out_features, self.in_features)
        self.params["weight"] = rng.normal(0.0, he_std(shape), size=shape).astype(dtype)
        if bias:
            self.params["bias"] = np.zeros(self.out_features, dtype=dtype)

    def forward(self, x, train=True):
        self._check_input(x, 2, self.in_features, "(N, in_features)")
        y = x @ self.params["weight"].T
        if "bias" in self.params:
            y += self.params["bias"]
        self._cache = x
        return y

    def backward(self, dy):
        x = self._require_cache()
        if tuple(dy.shape) != (x.shape[0], self.out_features):
            raise ValueError(f"{self!r}: dy has shape {tuple(dy.shape)}, expected {(x.shape[0], self.out_features)}")
        weight = self.params["weight"]
        dW = _grad_buffer(self, "weight")
        get_array_module(dy).matmul(dy.T, x, out=dW)
        if self.l2:
            dW += self.l2 * weight
        if "bias" in self.params:
            self.grads["bias"] = dy.sum(axis=0)
        return dy @ weight if self.needs_input_grad else None
