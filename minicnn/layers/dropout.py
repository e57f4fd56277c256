"""``Dropout``: inverted dropout with ``p_drop`` = the probability of *dropping* a unit (PyTorch's meaning).

The algorithm is ``minicnn/plain/dropout.py``: in training, y = x * mask with mask = keep / (1 - p_drop); in
evaluation the layer is the identity. The uniforms come from the layer's own ``numpy.random.Generator`` (never
global state), so the same seed gives the same masks on either tier and either device.
"""
from __future__ import annotations

import numpy as np

from minicnn import tiers
from minicnn.layers.base import Layer
from minicnn.plain.dropout import DropoutCache


class Dropout(Layer):
    """Drop each unit with probability ``p_drop`` in training; identity in evaluation."""

    def __init__(self, p_drop=0.5, *, rng=None, name=None):
        super().__init__(name)
        if not 0.0 <= p_drop < 1.0:
            raise ValueError(f"Dropout: p_drop is the drop probability and must lie in [0, 1), got {p_drop!r}")
        self.p_drop = float(p_drop)
        self.rng = np.random.default_rng() if rng is None else rng

    def forward(self, x, train=True):
        self._ops = tiers.ops()
        if not train or self.p_drop == 0.0:
            self._cache = DropoutCache(mask=None)  # the identity
            return x
        y, self._cache = self._ops.dropout_forward(x, self.p_drop, self.rng)
        return y

    def backward(self, dy):
        cache = self._require_cache()
        return dy if cache.mask is None else self._ops.dropout_backward(dy, cache)
