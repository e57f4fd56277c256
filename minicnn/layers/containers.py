"""Containers are layers too: ``Sequential`` chains its children, ``Flatten`` bridges conv and linear layers.

Backpropagation through a chain is the chain rule applied right to left::

    forward:   h0 = x,  h_k = f_k(h_{k-1}),  y = h_K
    backward:  dh_K = dy,  dh_{k-1} = f_k.backward(dh_k)  (each f_k also stores its parameter gradients)

The last step, dh_0 = dL/dx, is wasted work when x is the input image, and for a first convolution it is a
whole col2im. ``model.needs_input_grad = False`` tells the first layer so (``Layer.needs_input_grad``:
``Conv2d`` and ``Linear`` then return None from backward, other layers ignore the flag); ``Sequential`` passes
the setting on to its first layer, so nested containers follow. The default is True: Grad-CAM's input saliency needs dL/dx.
"""
from __future__ import annotations

from dataclasses import dataclass

from minicnn.backend import get_array_module
from minicnn.layers.base import Layer


@dataclass
class FlattenCache:
    x_shape: tuple  # the input's shape, restored in backward


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W); backward restores the shape."""

    def forward(self, x, train=True):
        if x.ndim < 2:
            raise ValueError(f"{self!r}: expected at least 2-D input (N, ...), got shape {tuple(x.shape)}")
        self._cache = FlattenCache(tuple(x.shape))
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._require_cache().x_shape)


class Sequential(Layer):
    """Run ``layers`` in order; backward runs them in reverse.

    With ``check_finite=True`` every output and every gradient is checked, and the first layer that produces a
    NaN or infinity is named in the error - the way to find where a diverging network breaks.
    """

    def __init__(self, *layers: Layer, name=None, check_finite: bool = False):
        super().__init__(name)
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {index} is {type(layer).__name__}, not a minicnn layer")
        names = [layer.name for layer in layers if layer.name]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Sequential: layer names must be unique, repeated: {duplicates}")
        self.layers = list(layers)
        self.check_finite = check_finite

    @property
    def needs_input_grad(self) -> bool:
        """Whether backward returns dL/dx; setting it sets the first layer's flag (see the module docstring)."""
        return getattr(self, "_needs_input_grad", True)

    @needs_input_grad.setter
    def needs_input_grad(self, value: bool):
        self._needs_input_grad = bool(value)
        if self.layers:
            self.layers[0].needs_input_grad = bool(value)

    def forward(self, x, train=True):
        for layer in self.layers:
            x = layer.forward(x, train=train)
            if self.check_finite:
                _assert_finite(x, layer, "output")
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
            if self.check_finite and dy is not None:
                _assert_finite(dy, layer, "input gradient")
        return dy

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, index):
        return self.layers[index]


def _assert_finite(x, layer, what):
    xp = get_array_module(x)
    if not bool(xp.isfinite(x).all()):
        bad = int((~xp.isfinite(x)).sum())
        raise ValueError(f"{layer!r}: {what} has {bad} non-finite values (NaN or inf) of {x.size}")
