"""Sliding-window geometry shared by convolution and pooling, and by both tiers: padding, output sizes, window
views; and the fast tier's cache-sized blocks of a batch."""
from __future__ import annotations

import numpy as np

from minicnn.backend import get_array_module


def normalize_pair(value, what: str) -> tuple[int, int]:
    """``3`` -> ``(3, 3)``; ``(3, 5)`` stays. Used for kernel sizes and strides."""
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2 or any(int(v) != v or v < 1 for v in pair):
        raise ValueError(f"{what} must be a positive int or a pair of positive ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def normalize_padding(padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding as ``((top, bottom), (left, right))``.

    Accepts an int (all sides), ``(ph, pw)`` (symmetric per axis) or ``((top, bottom), (left, right))``.
    Asymmetric padding is what lets AlexNet's 11x11 stride-4 conv1 run on a 224x224 input with an integral
    output: ``((2, 1), (2, 1))`` gives (224 + 3 - 11) / 4 + 1 = 55.
    """
    if np.isscalar(padding):
        pads = ((padding, padding), (padding, padding))
    else:
        padding = tuple(padding)
        if len(padding) != 2:
            raise ValueError(f"padding must be an int, (ph, pw) or ((top, bottom), (left, right)), got {padding!r}")
        pads = tuple((p, p) if np.isscalar(p) else tuple(p) for p in padding)
    if any(len(p) != 2 or int(v) != v or v < 0 for p in pads for v in p):
        raise ValueError(f"padding must be non-negative ints, got {padding!r}")
    return (int(pads[0][0]), int(pads[0][1])), (int(pads[1][0]), int(pads[1][1]))


def output_size(size: int, kernel: int, stride: int, pad: tuple[int, int], where, axis: str) -> int:
    """``(size + pad_before + pad_after - kernel) / stride + 1``, which must be a whole number.

    ``where`` names the caller in the error (a layer, or a function's name).
    """
    padded = size + pad[0] + pad[1]
    if kernel > padded:
        raise ValueError(
            f"{where}: kernel {kernel} along {axis} is larger than the padded input ({size} + {pad[0]} + {pad[1]} = {padded})"
        )
    span = padded - kernel
    if span % stride:
        raise ValueError(
            f"{where}: output {axis} ({size} + {pad[0]} + {pad[1]} - {kernel}) / {stride} + 1 = "
            f"{span / stride + 1:g} is not an integer; change the padding (e.g. asymmetric) or the input size"
        )
    return span // stride + 1


def conv2d_geometry(x, w, stride, padding, where):
    """Normalised ``(stride, padding, H_out, W_out)``, with a clear error for shapes that do not fit."""
    stride, padding = normalize_pair(stride, "stride"), normalize_padding(padding)
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
        raise ValueError(f"{where}: expected x (N, C, H, W) and w (F, C, KH, KW) with the same C, "
                         f"got {tuple(x.shape)} and {tuple(w.shape)}")
    H_out = output_size(x.shape[2], w.shape[2], stride[0], padding[0], where, "height")
    W_out = output_size(x.shape[3], w.shape[3], stride[1], padding[1], where, "width")
    return stride, padding, H_out, W_out


def pool2d_geometry(x, kernel_size, stride, padding, where):
    """Normalised ``(kernel_size, stride, padding)``, with a clear error for inputs that do not fit."""
    kernel_size, stride = normalize_pair(kernel_size, "kernel_size"), normalize_pair(stride, "stride")
    padding = normalize_padding(padding)
    if x.ndim != 4:
        raise ValueError(f"{where}: expected x (N, C, H, W), got shape {tuple(x.shape)}")
    for axis, size, k, s, pad in zip(("height", "width"), x.shape[2:], kernel_size, stride, padding):
        output_size(size, k, s, pad, where, axis)
    return kernel_size, stride, padding


def pad2d(x, pads, value=0.0):
    """Pad the last two axes of an (N, C, H, W) array; returns ``x`` itself when there is nothing to pad."""
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    xp = get_array_module(x)
    N, C, H, W = x.shape
    out = xp.full((N, C, H + top + bottom, W + left + right), value, dtype=x.dtype)
    out[:, :, top : top + H, left : left + W] = x
    return out


def unpad2d(x_pad, pads):
    """Inverse of ``pad2d`` for gradients: the interior of the padded array."""
    (top, bottom), (left, right) = pads
    H, W = x_pad.shape[2] - top - bottom, x_pad.shape[3] - left - right
    return x_pad[:, :, top : top + H, left : left + W]


def windows(x_pad, KH: int, KW: int, SH: int, SW: int):
    """A read-only strided *view* of every window: shape (N, C, H_out, W_out, KH, KW), no copy.

    ``windows(x)[n, c, i, j]`` is the KH x KW patch whose top-left corner is ``x[n, c, i*SH, j*SW]``.
    """
    xp = get_array_module(x_pad)
    view = xp.lib.stride_tricks.sliding_window_view(x_pad, (KH, KW), axis=(2, 3))
    return view[:, :, ::SH, ::SW]


def cache_blocks(x, block_bytes=1 << 20):
    """Slices along axis 0 of about ``block_bytes`` of ``x`` each (at least one sample).

    The unit of cache-sized work: a few element-wise passes over one block run in cache, where the same passes
    over the whole batch would each stream it from memory.
    """
    step = max(1, block_bytes // max(1, x[:1].nbytes))
    return [slice(start, start + step) for start in range(0, len(x), step)]
