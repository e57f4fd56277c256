"""``MaxPool2d`` and ``AvgPool2d``: pooling layers. They hold the window geometry and call the selected tier.

The algorithms are ``minicnn/plain/pool.py`` (``minicnn.plain.maxpool2d_forward`` and the rest: the first
maximum of a window wins ties, overlapping windows add their gradients up, average pooling counts padded zeros
in its divisor); how max pooling is made fast is ``minicnn/fast/pool.py``.
"""
from __future__ import annotations

from minicnn import tiers
from minicnn._geometry import normalize_pair, normalize_padding, output_size
from minicnn.layers.base import Layer


class _Pool2d(Layer):
    """Shared arguments of the pooling layers; ``stride`` defaults to the kernel size (PyTorch's rule)."""

    def __init__(self, kernel_size, stride=None, padding=0, *, name=None):
        super().__init__(name)
        self.kernel_size = normalize_pair(kernel_size, "kernel_size")
        self.stride = normalize_pair(self.kernel_size if stride is None else stride, "stride")
        self.padding = normalize_padding(padding)

    def _tier_for(self, x):
        """Check ``x`` (errors name this layer) and return the selected tier, remembered for the backward."""
        self._check_input(x, 4)
        for axis, size, k, s, pad in zip(("height", "width"), x.shape[2:], self.kernel_size, self.stride,
                                         self.padding):
            output_size(size, k, s, pad, self, axis)
        self._ops = tiers.ops()
        return self._ops


class MaxPool2d(_Pool2d):
    """Max pooling with argmax routing; the first maximum of a window wins ties."""

    def forward(self, x, train=True):
        y, self._cache = self._tier_for(x).maxpool2d_forward(x, self.kernel_size, self.stride, self.padding)
        return y

    def backward(self, dy):
        cache = self._require_cache()
        return self._ops.maxpool2d_backward(dy, cache)


class AvgPool2d(_Pool2d):
    """Average pooling; padded zeros count in the divisor (KH*KW always)."""

    def forward(self, x, train=True):
        y, self._cache = self._tier_for(x).avgpool2d_forward(x, self.kernel_size, self.stride, self.padding)
        return y

    def backward(self, dy):
        cache = self._require_cache()
        return self._ops.avgpool2d_backward(dy, cache)
