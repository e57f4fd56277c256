"""Exercise maxpool_ties: max pooling and argmax routing (docs/convolution.md, section 3.5).

    y[n, c, i, j] = max over the KxK window at (i*S, j*S) of x[n, c]          (no padding here)

Backward: each dy[n, c, i, j] goes, whole, to the one input that won its window; where windows overlap, an input
collects from every window it won. Ties: the FIRST maximum in row-major order within the window wins (as
np.argmax and PyTorch choose), so the gradient is never split.
"""
import numpy as np


def maxpool2d_forward(x, kernel_size, stride):
    """x (N, C, H, W) -> (y (N, C, H_out, W_out), cache)."""
    N, C, H, W = x.shape
    K, S = kernel_size, stride
    H_out, W_out = (H - K) // S + 1, (W - K) // S + 1
    windows = np.empty((N, C, H_out, W_out, K * K), dtype=x.dtype)
    for p in range(K):
        for q in range(K):
            windows[..., p * K + q] = x[:, :, p:p + S * H_out:S, q:q + S * W_out:S]
    argmax = windows.argmax(axis=-1)                  # the first maximum wins
    y = np.take_along_axis(windows, argmax[..., None], axis=-1)[..., 0]
    return y, (x.shape, argmax, K, S)


def maxpool2d_backward(dy, cache):
    """dy (N, C, H_out, W_out) -> dx (N, C, H, W)."""
    x_shape, argmax, K, S = cache
    N, C, H_out, W_out = dy.shape
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for p in range(K):
        for q in range(K):
            won = argmax == p * K + q
            dx[:, :, p:p + S * H_out:S, q:q + S * W_out:S] += np.where(won, dy, 0.0)
    return dx
