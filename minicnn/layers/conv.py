"""``Conv2d``: the convolution layer. It holds the filters and calls the selected tier.

The algorithm - im2col and one matrix product, forward and backward - is ``minicnn/plain/conv.py``
(``minicnn.plain.conv2d_forward`` / ``conv2d_backward``); how it is made fast is ``minicnn/fast/conv.py``.
``minicnn.naive.conv2d_forward`` / ``conv2d_backward`` are the same maths as plain loops.
"""
from __future__ import annotations

import numpy as np

from minicnn import tiers
from minicnn._geometry import normalize_pair, normalize_padding, output_size
from minicnn.init import he_std
from minicnn.layers.base import Layer


class Conv2d(Layer):
    """Convolution over an (N, C, H, W) batch with F filters of size KH x KW (PyTorch's layout and maths).

    ``padding`` is an int, ``(ph, pw)`` or ``((top, bottom), (left, right))``. ``l2`` adds ``l2 * W`` to the
    weight gradient (penalty ``0.5 * l2 * ||W||^2``; never on the bias). Weights start He-normal
    (std = sqrt(2 / fan_in)) from ``rng``; ``minicnn.init`` re-initialises a model another way.
    ``needs_input_grad = False`` skips dL/dx (see ``Layer``).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, *,
                 l2=0.0, name=None, rng=None, dtype=np.float32):
        super().__init__(name)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = normalize_pair(kernel_size, "kernel_size")
        self.stride = normalize_pair(stride, "stride")
        self.padding = normalize_padding(padding)
        self.l2 = float(l2)
        KH, KW = self.kernel_size
        rng = np.random.default_rng() if rng is None else rng
        shape = (self.out_channels, self.in_channels, KH, KW)
        self.params["weight"] = rng.normal(0.0, he_std(shape), size=shape).astype(dtype, copy=False)
        if bias:
            self.params["bias"] = np.zeros(self.out_channels, dtype=dtype)

    def output_shape(self, H, W):
        (KH, KW), (SH, SW) = self.kernel_size, self.stride
        return (output_size(H, KH, SH, self.padding[0], self, "height"),
                output_size(W, KW, SW, self.padding[1], self, "width"))

    def forward(self, x, train=True):
        self._check_input(x, 4, self.in_channels)
        self.output_shape(*x.shape[2:])  # a clear error naming this layer if the sizes do not fit
        self._ops = tiers.ops()
        y, self._cache = self._ops.conv2d_forward(x, self.params["weight"], self.params.get("bias"), self.stride,
                                                  self.padding)
        return y

    def backward(self, dy):
        cache = self._require_cache()
        expected = self._cache_output_shape(cache)
        if tuple(dy.shape) != expected:
            raise ValueError(f"{self!r}: dy has shape {tuple(dy.shape)}, expected {expected} (the forward output)")
        # on the fast tier, dW goes into the array last step's went into (see Layer)
        return self._weighted_backward(self._ops.conv2d_backward, getattr(self._ops, "conv2d_backward_into", None),
                                       dy, cache)

    def _cache_output_shape(self, cache):
        (KH, KW), (SH, SW) = self.kernel_size, self.stride
        N, _, Hp, Wp = cache.x_pad_shape
        return N, self.out_channels, (Hp - KH) // SH + 1, (Wp - KW) // SW + 1
