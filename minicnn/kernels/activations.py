"""ReLU forward and backward, one thread per element.

NumPy reference: the fast tier's leaves ``minicnn.fast.activations.relu_forward_apply`` (``np.maximum(x, 0)``)
and ``relu_backward_apply`` (``np.where(y > 0, dy, 0)``); the launchers share their names and signatures. Conventions, as there: the derivative at
0 is 0, and the mask is read off the *output* y (y > 0 exactly where x > 0). ``x < 0 ? 0 : x`` is written so
that a NaN passes through as ``np.maximum`` lets it.
"""
from __future__ import annotations

import numpy as np

from minicnn.backend import get_array_module
from minicnn.kernels.core import CudaKernel, contiguous, real_dtype

RELU_FWD = CudaKernel("relu_fwd", r"""
// relu_fwd: one thread per element.   x (any shape, flat)  ->  y = max(x, 0)   (NaN stays NaN)
extern "C" __global__ void relu_fwd(const real_t* __restrict__ x, real_t* __restrict__ y, int total)
{
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    const real_t v = x[index];
    y[index] = v < 0 ? (real_t)0 : v;
}
""")

RELU_BWD = CudaKernel("relu_bwd", r"""
// relu_bwd: one thread per element.   dy, y (any shape, flat)  ->  dx = dy where y > 0, else 0
extern "C" __global__ void relu_bwd(const real_t* __restrict__ dy, const real_t* __restrict__ y,
                                    real_t* __restrict__ dx, int total)
{
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    dx[index] = y[index] > 0 ? dy[index] : (real_t)0;
}
""")


def relu_forward_apply(x):
    """y = max(x, 0), on the GPU."""
    xp = get_array_module(x)
    dtype = real_dtype(x, "relu_forward_apply")
    x = contiguous(xp, x, dtype, "x", "relu_forward_apply")
    y = xp.empty_like(x)
    RELU_FWD(dtype, x.size, x, y, np.int32(x.size))
    return y


def relu_backward_apply(dy, y):
    """dx = dy * [y > 0], on the GPU."""
    xp = get_array_module(dy)
    dtype = real_dtype(dy, "relu_backward_apply")
    dy = contiguous(xp, dy, dtype, "dy", "relu_backward_apply")
    y = contiguous(xp, y, dtype, "y", "relu_backward_apply")
    if y.shape != dy.shape:
        raise ValueError(f"minicnn.kernels.relu_backward_apply: y has shape {tuple(y.shape)}, dy {tuple(dy.shape)}")
    dx = xp.empty_like(dy)
    RELU_BWD(dtype, dy.size, dy, y, dx, np.int32(dy.size))
    return dx
