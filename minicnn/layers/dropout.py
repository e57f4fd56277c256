"""Inverted dropout with ``p_drop`` = the probability of *dropping* a unit (PyTorch, Keras and MATLAB's meaning).

Training::

    keep ~ Bernoulli(1 - p_drop) per unit,  mask = keep / (1 - p_drop),  y = x * mask,  dx = dy * mask

Kept units are scaled by 1 / (1 - p_drop) (2.5 for the paper's 0.6) so that E[y] = x and evaluation is the
identity. The uniforms come from the layer's own ``numpy.random.Generator`` (never global state), on the host,
so the same seed gives the same masks on the CPU and the GPU.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minicnn.backend import get_array_module
from minicnn.layers.base import Layer


def dropout_forward(x, u, p_drop):
    """Given uniforms u in [0, 1): keep where u >= p_drop. Returns (y, mask) with mask = keep / (1 - p_drop)."""
    xp = get_array_module(x)
    if xp is not np:
        from minicnn import kernels

        return kernels.dropout_forward(x, u, p_drop)
    mask = (u >= p_drop).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p_drop))
    return x * mask, mask


@dataclass
class DropoutCache:
    mask: np.ndarray | None  # keep / (1 - p_drop) per unit; None when the layer acted as the identity


class Dropout(Layer):
    """Drop each unit with probability ``p_drop`` in training; identity in evaluation."""

    def __init__(self, p_drop=0.5, *, rng=None, name=None):
        super().__init__(name)
        if not 0.0 <= p_drop < 1.0:
            raise ValueError(f"Dropout: p_drop is the drop probability and must lie in [0, 1), got {p_drop!r}")
        self.p_drop = float(p_drop)
        self.rng = np.random.default_rng() if rng is None else rng

    def forward(self, x, train=True):
        if not train or self.p_drop == 0.0:
            self._cache = DropoutCache(mask=None)
            return x
        xp = get_array_module(x)
        u = xp.asarray(self.rng.random(x.shape, dtype=np.float64 if x.dtype == np.float64 else np.float32))
        y, mask = dropout_forward(x, u, self.p_drop)
        self._cache = DropoutCache(mask)
        return y

    def backward(self, dy):
        mask = self._require_cache().mask
        return dy if mask is None else dy * mask
