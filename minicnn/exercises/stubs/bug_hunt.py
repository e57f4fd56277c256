"""Exercise bug_hunt: this layer's backward pass has ONE planted bug. Find it with a gradient check, and fix it.

The layer is y = tanh(x @ w.T + b) with x (N, D), w (D, D) and b (D,). Every shape is right, so no shape error
will point at the bug. Compare each gradient with centred finite differences, in float64::

    import numpy as np
    from minicnn.gradcheck import numerical_gradient, relative_error
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 4)), rng.standard_normal(4)
    r = rng.standard_normal((5, 4))                       # L = sum(y * r), so dL/dy = r
    loss = lambda: float((forward(x, w, b)[0] * r).sum())
    dx, dw, db = backward(r, forward(x, w, b)[1])
    print(relative_error(dx, numerical_gradient(loss, x)))   # ... and the same for w and b

Then fix the line (and only it). Check with:  python -m minicnn.exercises check bug_hunt --file THIS_FILE
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
    dw = x.T @ dz
    db = dz.sum(axis=0)
    return dx, dw, db
