"""Exercise conv_im2col: convolution as im2col + one matrix product, and its backward (docs/convolution.md 3.2-3.4).

    x (N, C, H, W), w (F, C, KH, KW), b (F,) or None, stride S, padding P (the same on all four sides)
    x_pad = x with P zeros on every side;  H_out = (H + 2P - KH) / S + 1  (likewise W_out)
    cols  = im2col(x_pad): one row per window (n, i, j), one column per kernel offset (c, p, q)
    y     = (cols @ w.reshape(F, -1).T + b) reshaped to (N, F, H_out, W_out)

Backward, with dY = dy as an (N*H_out*W_out, F) matrix:
    db = sum of dY over rows;  dw = (dY.T @ cols) reshaped like w;  dcols = dY @ w.reshape(F, -1)
    dx = col2im(dcols): every entry of dcols added back to the pixel it was copied from, then the padding cut off
"""
import numpy as np


def im2col(x_pad, KH, KW, stride):
    """x_pad (N, C, Hp, Wp) -> cols (N*H_out*W_out, C*KH*KW), rows ordered (n, i, j), columns (c, p, q)."""
    N, C, Hp, Wp = x_pad.shape
    H_out, W_out = (Hp - KH) // stride + 1, (Wp - KW) // stride + 1
    cols = np.empty((N, H_out, W_out, C, KH, KW), dtype=x_pad.dtype)
    for p in range(KH):
        for q in range(KW):
            cols[:, :, :, :, p, q] = x_pad[:, :, p:p + stride * H_out:stride, q:q + stride * W_out:stride].transpose(0, 2, 3, 1)
    return cols.reshape(N * H_out * W_out, C * KH * KW)


def col2im(dcols, x_pad_shape, KH, KW, stride):
    """The adjoint of im2col: dcols (N*H_out*W_out, C*KH*KW) -> (N, C, Hp, Wp), overlapping entries added."""
    N, C, Hp, Wp = x_pad_shape
    H_out, W_out = (Hp - KH) // stride + 1, (Wp - KW) // stride + 1
    d = dcols.reshape(N, H_out, W_out, C, KH, KW)
    dx_pad = np.zeros(x_pad_shape, dtype=dcols.dtype)
    for p in range(KH):
        for q in range(KW):
            dx_pad[:, :, p:p + stride * H_out:stride, q:q + stride * W_out:stride] += d[:, :, :, :, p, q].transpose(0, 3, 1, 2)
    return dx_pad


def conv2d_forward(x, w, b, stride, padding):
    """-> (y (N, F, H_out, W_out), cache)."""
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    if (H + 2 * padding - KH) % stride or (W + 2 * padding - KW) % stride:
        raise ValueError("the output size is not an integer")
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    H_out, W_out = (x_pad.shape[2] - KH) // stride + 1, (x_pad.shape[3] - KW) // stride + 1
    cols = im2col(x_pad, KH, KW, stride)
    Y = cols @ w.reshape(F, -1).T
    if b is not None:
        Y = Y + b
    y = Y.reshape(N, H_out, W_out, F).transpose(0, 3, 1, 2)
    return y, (cols, x_pad.shape, w, b is not None, stride, padding)


def conv2d_backward(dy, cache):
    """dy (N, F, H_out, W_out) -> (dx like x, dw like w, db (F,) or None)."""
    cols, x_pad_shape, w, has_bias, stride, padding = cache
    F, C, KH, KW = w.shape
    dY = dy.transpose(0, 2, 3, 1).reshape(-1, F)
    db = dY.sum(axis=0) if has_bias else None
    dw = (dY.T @ cols).reshape(w.shape)
    dx_pad = col2im(dY @ w.reshape(F, -1), x_pad_shape, KH, KW, stride)
    dx = dx_pad[:, :, padding:x_pad_shape[2] - padding, padding:x_pad_shape[3] - padding]
    return dx, dw, db
