"""Exercise maxpool_ties: max pooling and argmax routing (docs/convolution.md, section 3.5).

    y[n, c, i, j] = max over the KxK window at (i*S, j*S) of x[n, c]          (no padding here)

Backward: each dy[n, c, i, j] goes, whole, to the one input that won its window; where windows overlap (K > S),
an input collects from every window it won. Ties: the FIRST maximum in row-major order within the window wins
(as np.argmax and PyTorch choose) - the gradient is never split between equal values.
Check with:  python -m minicnn.exercises check maxpool_ties --file THIS_FILE
"""
import numpy as np


def maxpool2d_forward(x, kernel_size, stride):
    """x (N, C, H, W) -> (y (N, C, H_out, W_out), cache)."""
    raise NotImplementedError


def maxpool2d_backward(dy, cache):
    """dy (N, C, H_out, W_out) -> dx (N, C, H, W)."""
    raise NotImplementedError("route each dy to its window's first maximum; add where windows overlap")
