"""Exercise conv_im2col: convolution as im2col + one matrix product, and its backward (docs/convolution.md 3.2-3.4).

    x (N, C, H, W), w (F, C, KH, KW), b (F,) or None, stride S, padding P (the same on all four sides)
    x_pad = x with P zeros on every side;  H_out = (H + 2P - KH) / S + 1  (likewise W_out)
    cols  = im2col(x_pad): one row per window (n, i, j), one column per kernel offset (c, p, q)
    y     = (cols @ w.reshape(F, -1).T + b) reshaped to (N, F, H_out, W_out)

Backward: db, dw from two reductions/products of dy with cols; dcols = dY @ w.reshape(F, -1); dx = col2im(dcols)
with the padding cut off, where col2im adds every entry of dcols back to the pixel it was copied from.
Check with:  python -m minicnn.exercises check conv_im2col --file THIS_FILE
"""
import numpy as np


def im2col(x_pad, KH, KW, stride):
    """x_pad (N, C, Hp, Wp) -> cols (N*H_out*W_out, C*KH*KW), rows ordered (n, i, j), columns (c, p, q)."""
    raise NotImplementedError("hint: loop over the KH*KW kernel offsets (p, q) and copy a strided slice each time")


def col2im(dcols, x_pad_shape, KH, KW, stride):
    """The adjoint of im2col: dcols (N*H_out*W_out, C*KH*KW) -> (N, C, Hp, Wp), overlapping entries added."""
    raise NotImplementedError("the same loop as im2col, adding (+=) instead of copying")


def conv2d_forward(x, w, b, stride, padding):
    """-> (y (N, F, H_out, W_out), cache). Refuse (ValueError) an output size that is not an integer."""
    raise NotImplementedError


def conv2d_backward(dy, cache):
    """dy (N, F, H_out, W_out) -> (dx like x, dw like w, db (F,) or None when b was None)."""
    raise NotImplementedError
