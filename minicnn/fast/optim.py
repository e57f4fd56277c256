"""One SGD step, fast: the plain tier's update (``minicnn/plain/optim.py``) done in place, in blocks.

Every update is done in place, a block of about 256 KB at a time (``_blocks``), so that the three passes over
each block - scale v, add g, subtract lr * v from p - run in cache and read every array from memory once.
Written as whole-array expressions (``p = p - lr * v``) they would also allocate a temporary as large as the
parameter (150 MB for AlexNet's fc6) on every step.
"""
from __future__ import annotations

import numpy as np

from minicnn.backend import get_array_module

_BLOCK = 1 << 16  # numbers per block (256 KB of float32)


def _blocks(*arrays):
    """Matching flat blocks of same-shape arrays: tuples of views; one tuple of the whole arrays on the GPU or
    when an array is not contiguous."""
    first = arrays[0]
    if get_array_module(first) is not np or not all(a.flags.c_contiguous for a in arrays):
        return [arrays]
    flat = [a.reshape(-1) for a in arrays]  # views
    return [tuple(f[start : start + _BLOCK] for f in flat) for start in range(0, first.size, _BLOCK)]


def sgd_step(param, grad, velocity, lr, momentum=0.0, nesterov=False, l2=0.0):
    """Update ``param`` (and ``velocity``) in place; returns them, as ``minicnn.plain.sgd_step`` returns its new ones."""
    g = grad + l2 * param if l2 else grad
    if not momentum:
        for p, g_b in _blocks(param, g):
            p -= lr * g_b
        return param, None
    first_step = velocity is None
    if first_step:
        velocity = g.copy()  # a copy: grad's buffer is reused by the next backward
    for p, g_b, v_b in _blocks(param, g, velocity):
        if not first_step:
            v_b *= momentum
            v_b += g_b
        p -= lr * (g_b + momentum * v_b if nesterov else v_b)
    return param, velocity
