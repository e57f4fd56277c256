"""Centered finite differences: the independent oracle for every hand-written backward pass.

For a scalar function f and a small h::

    df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2h)      error O(h^2)

Run in float64 (h = 1e-6 gives ~1e-9 relative error on smooth functions). For big arrays, check a random
direction u instead of every coordinate: (f(x + h u) - f(x - h u)) / (2h) ~ <grad f(x), u>.
"""
from __future__ import annotations

import numpy as np

from minicnn.losses import l2_penalty


def numerical_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Centered-difference gradient of the scalar ``f()`` with respect to ``x``, perturbing ``x`` in place."""
    if not x.flags.c_contiguous:
        raise ValueError("numerical_gradient: x must be C-contiguous, so that perturbing x.reshape(-1) perturbs x")
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad


def directional_derivative(f, x: np.ndarray, direction: np.ndarray, h: float = 1e-6) -> float:
    """(f(x + h u) - f(x - h u)) / (2h) for a direction u, restoring ``x`` afterwards."""
    old = x.copy()
    x += h * direction
    plus = f()
    x[...] = old - h * direction
    minus = f()
    x[...] = old
    return (plus - minus) / (2 * h)


def relative_error(a, b) -> float:
    """max |a - b| / max(max |a|, max |b|): the worst error relative to the gradient's scale.

    Scaling by the largest entry rather than entry by entry keeps near-zero entries (whose finite difference
    is pure rounding noise) from dominating.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not a.size:
        return 0.0
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))), 1e-300)
    return float(np.max(np.abs(a - b))) / scale


def check_layer(layer, x: np.ndarray, train: bool = True, h: float = 1e-6, seed: int = 0) -> dict[str, float]:
    """Compare ``layer``'s backward with finite differences of L = sum(forward(x) * r), r a fixed random array.

    Returns the relative error for ``x`` and for every parameter. Layers with randomness (dropout) must be made
    deterministic by the caller (e.g. reseeding ``layer.rng`` inside the forward).
    """
    r = np.random.default_rng(seed).standard_normal(layer.forward(x, train=train).shape)

    def loss():  # includes the layer's own L2 penalty, which its weight gradient includes too
        return float((layer.forward(x, train=train) * r).sum()) + l2_penalty(layer)

    def restore_buffers(snapshot):
        for key, value in snapshot.items():
            layer.buffers[key] = value.copy()

    buffers = {k: v.copy() for k, v in layer.buffers.items()}
    layer.forward(x, train=train)
    dx = layer.backward(r)
    analytic = {"x": dx, **{k: g.copy() for k, g in layer.grads.items()}}

    def loss_keep_buffers():
        value = loss()
        restore_buffers(buffers)
        return value

    errors = {"x": relative_error(analytic["x"], numerical_gradient(loss_keep_buffers, x, h))}
    for key, value in layer.params.items():
        errors[key] = relative_error(analytic[key], numerical_gradient(loss_keep_buffers, value, h))
    restore_buffers(buffers)
    return errors
