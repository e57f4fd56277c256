"""Inverted dropout, fast: the plain tier's mask (``minicnn/plain/dropout.py``) made in one pass.

The uniforms are drawn as the plain tier draws them (``draw_uniforms``: on the host, from the caller's
Generator), so both tiers and both devices drop the same units for the same seed. On the GPU the mask and the
output come from one kernel (``minicnn/kernels/dropout.py``). The cache is the plain tier's ``DropoutCache``.
"""
from __future__ import annotations

import numpy as np

from minicnn import kernels
from minicnn.backend import get_array_module
from minicnn.plain.dropout import DropoutCache, draw_uniforms, dropout_backward


def dropout_forward_apply(x, u, p_drop):
    """Given uniforms u in [0, 1): keep where u >= p_drop. Returns (y, mask) with mask = keep / (1 - p_drop)."""
    if get_array_module(x) is not np:
        return kernels.dropout_forward_apply(x, u, p_drop)
    mask = (u >= p_drop).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - p_drop))
    return x * mask, mask


def dropout_forward(x, p_drop, rng):
    """y = x * mask in training mode; returns (y, cache)."""
    if not 0.0 <= p_drop < 1.0:
        raise ValueError(f"dropout_forward: p_drop is the drop probability and must lie in [0, 1), got {p_drop!r}")
    y, mask = dropout_forward_apply(x, draw_uniforms(x, rng), p_drop)
    return y, DropoutCache(mask)


__all__ = ["dropout_backward", "dropout_forward", "dropout_forward_apply"]
