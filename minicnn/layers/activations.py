"""``ReLU``: y = max(x, 0), dx = dy * [y > 0]; the algorithm is ``minicnn/plain/activations.py``.

The derivative at exactly 0 is taken as 0 (as PyTorch does), so the mask is read off the cached output.
"""
from __future__ import annotations

from minicnn import tiers
from minicnn.layers.base import Layer


class ReLU(Layer):
    """Rectified linear unit; its cache (``ReLUCache``) holds the output, whose sign pattern is the gradient mask."""

    def forward(self, x, train=True):
        if not hasattr(x, "dtype") or x.dtype.kind != "f":
            raise TypeError(f"{self!r}: expected a floating-point array, got {getattr(x, 'dtype', type(x).__name__)}")
        self._ops = tiers.ops()
        y, self._cache = self._ops.relu_forward(x)
        return y

    def backward(self, dy):
        cache = self._require_cache()
        return self._ops.relu_backward(dy, cache)
