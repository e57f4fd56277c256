"""Exercise bug_hunt: a layer whose backward pass had one planted bug - found and fixed.

The layer is y = tanh(x @ w.T + b) with x (N, D), w (D, D) - a square weight, so a wrong gradient can have the
right shape - and b (D,). Its gradients:

    z = x @ w.T + b;  dz = dy * (1 - tanh(z)^2)
    dx = dz @ w;  dw = dz.T @ x;  db = sum of dz over the batch

The planted bug was ``dw = x.T @ dz``: the transpose of the right answer, the same shape, so no shape error
catches it; a finite-difference check (minicnn.gradcheck.numerical_gradient) of each gradient does.
"""
import numpy as np


def forward(x, w, b):
    """x (N, D), w (D, D), b (D,) -> (y (N, D), cache)."""
    y = np.tanh(x @ w.T + b)
    return y, (x, w, y)


def backward(dy, cache):
    """dy (N, D) -> (dx, dw, db)."""
    x, w, y = cache
    dz = dy * (1.0 - y ** 2)
    dx = dz @ w
    dw = dz.T @ x
    db = dz.sum(axis=0)
    return dx, dw, db
