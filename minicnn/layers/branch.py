"""Branching: several layers read the same input, and their outputs are concatenated along the channels.

This is the block an Inception module (GoogLeNet) is built from. With branches f_1..f_B::

    forward:   y = concat_channels(f_1(x), ..., f_B(x))              (N, C_1 + ... + C_B, H, W)
    backward:  dy is split back into the channel slices dy_1..dy_B, and because x fed every branch,
               its gradient is the sum of what each branch sends back:  dx = sum_b f_b.backward(dy_b)

(The sum is the multivariate chain rule: x influences the loss along B paths.)
"""
from __future__ import annotations

from dataclasses import dataclass

from minicnn.backend import get_array_module
from minicnn.layers.base import Layer


@dataclass
class ConcatCache:
    widths: list  # channels of each branch's output, to split dy back


class Concat(Layer):
    """Run every branch on the same input; concatenate their outputs on axis 1 (channels)."""

    def __init__(self, *branches: Layer, name=None):
        super().__init__(name)
        if not branches:
            raise ValueError("Concat: needs at least one branch")
        for index, branch in enumerate(branches):
            if not isinstance(branch, Layer):
                raise TypeError(f"Concat: branch {index} is {type(branch).__name__}, not a minicnn layer")
        self.layers = list(branches)

    def forward(self, x, train=True):
        outputs = [branch.forward(x, train=train) for branch in self.layers]
        if len({(y.shape[0],) + tuple(y.shape[2:]) for y in outputs}) != 1:
            shapes = ", ".join(f"{branch!r}: {tuple(y.shape)}" for branch, y in zip(self.layers, outputs))
            raise ValueError(f"{self!r}: branch outputs must agree in every axis but the channels, got {shapes}")
        self._cache = ConcatCache([y.shape[1] for y in outputs])
        return get_array_module(x).concatenate(outputs, axis=1)

    def backward(self, dy):
        channels = self._require_cache().widths
        dx, start = None, 0
        for branch, width in zip(self.layers, channels):
            grad = branch.backward(dy[:, start : start + width])
            dx = grad if dx is None else dx + grad
            start += width
        return dx
