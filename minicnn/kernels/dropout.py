"""Inverted dropout: mask and output in one pass, from uniforms drawn on the host.

NumPy reference: the fast tier's leaf ``minicnn.fast.dropout.dropout_forward_apply(x, u, p_drop)``, whose name,
signature and return value ``(y, mask)`` the launcher shares. ``p_drop`` is the probability of *dropping* a unit::

    keep = u >= p_drop,   mask = keep / (1 - p_drop),   y = x * mask        (backward: dx = dy * mask)

The uniforms ``u`` are not drawn on the GPU: the layer draws them from its own NumPy Generator and copies
them over, so one seed gives the same masks - and the same trained model - on both devices. Both the
comparison and the scale happen in the array's dtype, as NumPy does them: ``u >= p_drop`` with ``p_drop``
rounded to float32 for float32 arrays, and ``1 / (1 - p_drop)`` computed in float64 and then rounded.
"""
from __future__ import annotations

import numpy as np

from minicnn.backend import get_array_module
from minicnn.kernels.core import CudaKernel, contiguous, real_dtype

DROPOUT_FWD = CudaKernel("dropout_fwd", r"""
// dropout_fwd: one thread per element.
//   x, u (any shape, flat; u uniform in [0, 1))  ->  y, mask (same shape)
//   mask = (u >= p_drop) ? scale : 0   with scale = 1 / (1 - p_drop);   y = x * mask
extern "C" __global__ void dropout_fwd(const real_t* __restrict__ x, const real_t* __restrict__ u,
                                       real_t* __restrict__ y, real_t* __restrict__ mask,
                                       real_t p_drop, real_t scale, int total)
{
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    const real_t m = u[index] >= p_drop ? scale : (real_t)0;
    mask[index] = m;
    y[index] = x[index] * m;
}
""")


def dropout_forward_apply(x, u, p_drop):
    """Keep where u >= p_drop; returns (y, mask) with mask = keep / (1 - p_drop), on the GPU."""
    if not 0.0 <= p_drop < 1.0:
        raise ValueError(f"minicnn.kernels.dropout_forward_apply: p_drop must lie in [0, 1), got {p_drop!r}")
    xp = get_array_module(x)
    dtype = real_dtype(x, "dropout_forward_apply")
    x = contiguous(xp, x, dtype, "x", "dropout_forward_apply")
    u = contiguous(xp, u, dtype, "u", "dropout_forward_apply")
    if u.shape != x.shape:
        raise ValueError(f"minicnn.kernels.dropout_forward_apply: u has shape {tuple(u.shape)}, x {tuple(x.shape)}")
    y, mask = xp.empty_like(x), xp.empty_like(x)
    DROPOUT_FWD(dtype, x.size, x, u, y, mask, dtype.type(p_drop), dtype.type(1.0 / (1.0 - p_drop)),
                np.int32(x.size))
    return y, mask
