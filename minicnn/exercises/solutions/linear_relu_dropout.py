"""Exercise linear_relu_dropout: the rest of AlexNet's layers - linear, ReLU and inverted dropout.

    linear:   y = x w^T + b;      dx = dy w,  dw = dy^T x,  db = sum of dy over the batch
    ReLU:     y = max(x, 0);      dx = dy where x > 0, else 0 (also at 0)
    dropout:  keep = u >= p_drop with u ~ Uniform[0, 1) per unit;  mask = keep / (1 - p_drop)
              y = x * mask;       dx = dy * mask
              (the kept units are scaled up by 1 / (1 - p_drop), so the expected output equals x and evaluation
              mode is the identity)
"""
import numpy as np


def linear_forward(x, w, b):
    """x (N, D_in), w (D_out, D_in), b (D_out,) or None -> (y (N, D_out), cache)."""
    y = x @ w.T
    if b is not None:
        y = y + b
    return y, (x, w, b is not None)


def linear_backward(dy, cache):
    """dy (N, D_out) -> (dx like x, dw like w, db (D_out,) or None when b was None)."""
    x, w, has_bias = cache
    return dy @ w, dy.T @ x, dy.sum(axis=0) if has_bias else None


def relu_forward(x):
    """x (any shape) -> (y, cache)."""
    y = np.maximum(x, 0)
    return y, y


def relu_backward(dy, cache):
    """dy like x -> dx."""
    y = cache
    return np.where(y > 0, dy, 0).astype(dy.dtype)


def dropout_forward(x, p_drop, rng):
    """Training mode: x (any shape), p_drop in [0, 1), rng a numpy.random.Generator -> (y, cache)."""
    u = rng.random(x.shape, dtype=x.dtype)
    mask = ((u >= p_drop) / (1 - p_drop)).astype(x.dtype)
    return x * mask, mask


def dropout_backward(dy, cache):
    """dy like x -> dx."""
    mask = cache
    return dy * mask
