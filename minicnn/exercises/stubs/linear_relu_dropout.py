"""Exercise linear_relu_dropout: the rest of AlexNet's layers - linear, ReLU and inverted dropout.

With these, your exercise files hold every op AlexNet-BN needs, and ``python docs/capstone.py DIR`` trains it
with them (docs/exercises.md, "Your own layers train the network").

    linear:   x (N, D_in), w (D_out, D_in), b (D_out,) or None  ->  y = x w^T + b         (docs/backprop.md 1.3)
    ReLU:     y = max(x, 0); its derivative at 0 is taken as 0                           (docs/convolution.md 3.6)
    dropout:  p_drop is the probability of DROPPING a unit; inverted dropout scales the units it keeps so
              that nothing changes in evaluation mode                                     (docs/convolution.md 3.7)

Dropout draws its random numbers like minicnn, so that one generator gives the same mask: one uniform number
per unit, ``u = rng.random(x.shape, dtype=x.dtype)``, and a unit is dropped where ``u < p_drop``.
Each forward returns ``(y, cache)``; the cache is yours - only your backward reads it.
Check with:  python -m minicnn.exercises check linear_relu_dropout --file THIS_FILE
"""
import numpy as np


def linear_forward(x, w, b):
    """x (N, D_in), w (D_out, D_in), b (D_out,) or None -> (y (N, D_out), cache)."""
    raise NotImplementedError


def linear_backward(dy, cache):
    """dy (N, D_out) -> (dx like x, dw like w, db (D_out,) or None when b was None)."""
    raise NotImplementedError


def relu_forward(x):
    """x (any shape) -> (y, cache)."""
    raise NotImplementedError


def relu_backward(dy, cache):
    """dy like x -> dx."""
    raise NotImplementedError


def dropout_forward(x, p_drop, rng):
    """Training mode: x (any shape), p_drop in [0, 1), rng a numpy.random.Generator -> (y, cache)."""
    raise NotImplementedError


def dropout_backward(dy, cache):
    """dy like x -> dx."""
    raise NotImplementedError
