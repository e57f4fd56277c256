"""``Linear``: the fully connected layer, y = x @ W.T + b. It holds W and b and calls the selected tier.

The algorithm is ``minicnn/plain/linear.py`` (dW = dy.T @ x, db = sum_n dy[n], dx = dy @ W). ``l2`` adds
``l2 * W`` to dW (penalty ``0.5 * l2 * ||W||^2``; never on the bias); on the fast tier dW is written into the
array that held last step's (see ``Layer``), and ``needs_input_grad = False`` skips dx, as for ``Conv2d``.
"""
from __future__ import annotations

import numpy as np

from minicnn import tiers
from minicnn.init import he_std
from minicnn.layers.base import Layer


class Linear(Layer):
    """Affine map with PyTorch's weight layout (out_features, in_features); He-normal weights from ``rng``."""

    def __init__(self, in_features, out_features, bias=True, *, l2=0.0, name=None, rng=None, dtype=np.float32):
        super().__init__(name)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.l2 = float(l2)
        rng = np.random.default_rng() if rng is None else rng
        shape = (self.out_features, self.in_features)
        self.params["weight"] = rng.normal(0.0, he_std(shape), size=shape).astype(dtype, copy=False)
        if bias:
            self.params["bias"] = np.zeros(self.out_features, dtype=dtype)

    def forward(self, x, train=True):
        self._check_input(x, 2, self.in_features, "(N, in_features)")
        self._ops = tiers.ops()
        y, self._cache = self._ops.linear_forward(x, self.params["weight"], self.params.get("bias"))
        return y

    def backward(self, dy):
        cache = self._require_cache()
        if tuple(dy.shape) != (cache.x.shape[0], self.out_features):
            raise ValueError(f"{self!r}: dy has shape {tuple(dy.shape)}, expected {(cache.x.shape[0], self.out_features)}")
        # on the fast tier, dW goes into the array last step's went into (see Layer)
        return self._weighted_backward(self._ops.linear_backward, getattr(self._ops, "linear_backward_into", None),
                                       dy, cache)
