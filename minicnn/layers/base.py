"""The layer contract shared by every layer and container.

A layer is a small object with a *paired* forward and backward pass::

    y  = layer.forward(x, train=True)   # keeps what backward needs in layer._cache
    dx = layer.backward(dy)             # fills layer.grads[k] for every layer.params[k], returns dL/dx

``params`` and ``grads`` are dicts with the same keys (``weight``/``bias``, batch norm ``gamma``/``beta``).
State that is not trained (batch norm ``running_mean``/``running_var``) lives in ``buffers``.
Containers (``Sequential``) are layers too; they list their children in ``self.layers``.

A layer holds state; the maths is in the tiers. ``forward`` calls the selected tier's ``<op>_forward``
(``minicnn.tiers.ops()``: ``minicnn.plain`` or ``minicnn.fast``) and keeps the tier and the cache it returns;
``backward`` calls the same tier's ``<op>_backward`` with that cache.
"""
from __future__ import annotations

import numpy as np

from minicnn.backend import get_array_module


class Layer:
    """Base class: bookkeeping only, no maths.

    Subclasses implement ``forward(x, train=True)`` and ``backward(dy)``. After one forward and one backward
    pass, ``grads[k]`` holds dL/d``params[k]`` (including the layer's own L2 term, where it has one).

    **A gradient lasts until the next backward.** ``backward`` replaces ``grads``; it never adds to them. On the
    fast tier (the default) ``Conv2d`` and ``Linear`` write each step's weight gradient into the very array
    their last fast backward left in ``grads["weight"]`` (``_grad_buffer``): a fresh one every step would cost
    memory the size of the weights (150 MB for AlexNet's fc6) at the moment memory is fullest, and the time to
    clear it. So an array taken from ``grads`` changes with the next backward: keep ``grads[k].copy()`` to hold
    on to a step's gradient. The plain tier returns new arrays (``tests/minicnn/test_grads.py`` shows both).

    ``needs_input_grad`` (default True): when False, a layer whose input gradient costs work (``Conv2d``,
    ``Linear``) fills its parameter gradients only and returns None from ``backward`` - what the first layer of
    a network needs, since nothing upstream uses dL/dx. Other layers ignore it.
    """

    needs_input_grad = True

    def __init__(self, name: str | None = None):
        self.name = name
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.layers: list[Layer] = []
        self._cache = None  # what the last forward's tier returned for its backward
        self._ops = None  # that tier (minicnn.plain or minicnn.fast)
        self._grad_buffers = {}  # key -> the array the fast tier writes this parameter's gradient into

    # --- the contract -------------------------------------------------------------------------------------
    def forward(self, x, train: bool = True):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def __call__(self, x, train: bool = True):
        return self.forward(x, train=train)

    # --- helpers for subclasses ----------------------------------------------------------------------------
    def __repr__(self) -> str:
        kind = type(self).__name__
        return f"{kind} {self.name!r}" if self.name else kind

    def _require_cache(self):
        """Return the forward cache, or fail clearly when backward comes before any forward."""
        if self._cache is None:
            raise ValueError(f"{self!r}: backward() called before forward(); run forward(x) first")
        return self._cache

    def _grad_buffer(self, key):
        """The array a tier's ``<op>_backward_into`` writes dL/d``params[key]`` into: the one it wrote last step's
        into, or a new one the first time and whenever the parameter's shape, dtype or device has changed.

        It is the layer's own: a gradient a step on another tier left in ``grads`` is never written into.
        """
        param, buffer = self.params[key], self._grad_buffers.get(key)
        if (buffer is None or buffer.shape != param.shape or buffer.dtype != param.dtype
                or type(buffer) is not type(param)):
            buffer = self._grad_buffers[key] = get_array_module(param).empty_like(param)
        return buffer

    def _weighted_backward(self, backward, backward_into, dy, cache):
        """dx from a tier's backward of a layer with a weight and ``l2`` (``Conv2d``, ``Linear``), which leaves
        ``grads["weight"] = dW + l2 * W`` (the L2 term added in place) and ``grads["bias"] = db``.

        ``backward_into`` is the tier's version that writes dW into an array passed to it (the fast tier has one):
        given, it writes into ``_grad_buffer("weight")``; None, ``backward`` returns a new array.
        """
        if backward_into is None:
            dx, dw, db = backward(dy, cache, need_dx=self.needs_input_grad)
        else:
            dx, dw, db = backward_into(self._grad_buffer("weight"), dy, cache, need_dx=self.needs_input_grad)
        if self.l2:
            dw += self.l2 * self.params["weight"]
        self.grads["weight"] = dw
        if db is not None:
            self.grads["bias"] = db
        return dx

    def _check_input(self, x, ndim: int, channels: int | None = None, what: str = "(N, C, H, W)"):
        """Raise a clear TypeError/ValueError if ``x`` is not a float array of the expected shape."""
        if not hasattr(x, "ndim") or not hasattr(x, "dtype"):
            raise TypeError(f"{self!r}: expected an array of shape {what}, got {type(x).__name__}")
        if x.dtype.kind != "f":
            raise TypeError(f"{self!r}: expected a floating-point array, got dtype {x.dtype}")
        if x.ndim != ndim:
            raise ValueError(f"{self!r}: expected a {ndim}-D input {what}, got shape {tuple(x.shape)}")
        if channels is not None and x.shape[1] != channels:
            raise ValueError(
                f"{self!r}: expected {channels} channels (axis 1), got shape {tuple(x.shape)}"
            )
        for key, p in self.params.items():
            if p.dtype != x.dtype:
                raise TypeError(
                    f"{self!r}: input dtype {x.dtype} differs from {key} dtype {p.dtype}; "
                    f"convert the input or call model.astype({x.dtype})"
                )

    # --- walking a model -----------------------------------------------------------------------------------
    def named_layers(self, prefix: str = ""):
        """Yield ``(path, layer)`` for this layer and every layer inside it, depth first."""
        yield prefix, self
        for index, child in enumerate(self.layers):
            key = child.name or str(index)
            yield from child.named_layers(f"{prefix}.{key}" if prefix else key)

    def find(self, name: str) -> Layer:
        """Return the sublayer whose ``name`` (or path) is ``name``."""
        for path, layer in self.named_layers():
            if layer.name == name or (path and path == name):
                return layer
        names = [p for p, _ in self.named_layers() if p]
        raise KeyError(f"{self!r}: no layer named {name!r}; layers are {names}")

    def parameters(self) -> list[tuple[Layer, str]]:
        """Every trainable parameter as a ``(layer, key)`` pair, in a stable order."""
        return [(layer, key) for _, layer in self.named_layers() for key in layer.params]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers under dotted names such as ``conv1.weight`` or ``3.running_mean``."""
        state = {}
        for path, layer in self.named_layers():
            for key, value in {**layer.params, **layer.buffers}.items():
                state[f"{path}.{key}" if path else key] = value
        return state

    def load_state_dict(self, state: dict) -> None:
        """Copy arrays from ``state`` into this model; shapes and names must match exactly."""
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(f"{self!r}: state does not match the model: missing {missing}, unexpected {unexpected}")
        for name, target in own.items():
            source = state[name]
            if tuple(source.shape) != tuple(target.shape):
                raise ValueError(
                    f"layer parameter {name!r}: the model has shape {tuple(target.shape)}, "
                    f"the loaded state has shape {tuple(source.shape)}"
                )
        for path, layer in self.named_layers():
            for store in (layer.params, layer.buffers):
                for key in store:
                    value = state[f"{path}.{key}" if path else key]
                    xp = get_array_module(store[key])
                    store[key] = xp.asarray(value, dtype=store[key].dtype).copy()

    def astype(self, dtype) -> Layer:
        """Convert every parameter, gradient and buffer to ``dtype`` (e.g. float64 for gradient checks)."""
        for _, layer in self.named_layers():
            for store in (layer.params, layer.grads, layer.buffers):
                for key in store:
                    store[key] = store[key].astype(dtype)
            layer._cache = None
            layer._grad_buffers.clear()
        return self
