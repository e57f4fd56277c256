"""Batch normalisation: the elementwise parts of the forward (eqs. (5)-(6)) and backward passes, fused.

NumPy reference: the fast tier's leaves ``minicnn.fast.batchnorm.bn_forward_apply`` / ``bn_backward_apply`` (same
names, signatures and return values). The per-channel statistics - mean and variance forward, ``sum(dy)`` and ``sum(dy * x_hat)``
backward - are reductions, which the layer computes with the array module (CuPy's reductions on the GPU);
these kernels do the rest in one pass over the data. Any (N, C, ...) shape works: the array is read as
(N, C, S) with S = H*W for (N, C, H, W) and S = 1 for (N, C), so the channel of flat element ``index`` is
``(index / S) % C``.

The kernels compute the equations as written; the CPU leaf arranges the same expressions differently for
cache speed, so the two agree up to rounding, not bit for bit.
"""
from __future__ import annotations

import numpy as np

from minicnn.backend import get_array_module
from minicnn.kernels.core import CudaKernel, contiguous, real_dtype

BN_FWD = CudaKernel("bn_fwd", r"""
// bn_fwd: one thread per element of x.
//   x (N, C, S), mean, inv_std, gamma, beta (C,)  ->  x_hat, y (N, C, S)
//   x_hat = (x - mean[c]) * inv_std[c]          (5)
//   y     = x_hat * gamma[c] + beta[c]          (6)
extern "C" __global__ void bn_fwd(const real_t* __restrict__ x, const real_t* __restrict__ mean,
                                  const real_t* __restrict__ inv_std, const real_t* __restrict__ gamma,
                                  const real_t* __restrict__ beta,
                                  real_t* __restrict__ x_hat, real_t* __restrict__ y,
                                  int total, int C, int S)
{
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    const int c = (index / S) % C;               // index = (n*C + c)*S + s
    const real_t xh = (x[index] - mean[c]) * inv_std[c];
    x_hat[index] = xh;
    y[index] = xh * gamma[c] + beta[c];
}
""")

BN_BWD = CudaKernel("bn_bwd", r"""
// bn_bwd: one thread per element of dy.
//   dy, x_hat (N, C, S), gamma, inv_std, sum_dy, sum_dy_xhat (C,), M = N*S  ->  dx (N, C, S)
//   dx = (gamma[c] * inv_std[c] / M) * (M * dy - sum_dy[c] - x_hat * sum_dy_xhat[c])
extern "C" __global__ void bn_bwd(const real_t* __restrict__ dy, const real_t* __restrict__ x_hat,
                                  const real_t* __restrict__ gamma, const real_t* __restrict__ inv_std,
                                  const real_t* __restrict__ sum_dy, const real_t* __restrict__ sum_dy_xhat,
                                  real_t* __restrict__ dx, real_t M, int total, int C, int S)
{
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    const int c = (index / S) % C;               // index = (n*C + c)*S + s
    const real_t scale = gamma[c] * inv_std[c] / M;
    dx[index] = scale * (M * dy[index] - sum_dy[c] - x_hat[index] * sum_dy_xhat[c]);
}
""")


def bn_forward_apply(x, mean, inv_std, gamma, beta):
    """Equations (5)-(6) given the per-channel statistics, on the GPU: returns (x_hat, y)."""
    xp = get_array_module(x)
    dtype = real_dtype(x, "bn_forward_apply")
    x = contiguous(xp, x, dtype, "x", "bn_forward_apply")
    C = x.shape[1]
    per_channel = [contiguous(xp, v, dtype, what, "bn_forward_apply")
                   for v, what in ((mean, "mean"), (inv_std, "inv_std"), (gamma, "gamma"), (beta, "beta"))]
    x_hat, y = xp.empty_like(x), xp.empty_like(x)
    BN_FWD(dtype, x.size, x, *per_channel, x_hat, y, *np.int32([x.size, C, x.size // max(1, x.shape[0] * C)]))
    return x_hat, y


def bn_backward_apply(dy, x_hat, gamma, inv_std, sum_dy, sum_dy_xhat, M):
    """dx = (gamma * inv_std / M) * (M dy - sum(dy) - x_hat * sum(dy * x_hat)), on the GPU."""
    xp = get_array_module(dy)
    dtype = real_dtype(dy, "bn_backward_apply")
    dy = contiguous(xp, dy, dtype, "dy", "bn_backward_apply")
    x_hat = contiguous(xp, x_hat, dtype, "x_hat", "bn_backward_apply")
    C = dy.shape[1]
    per_channel = [contiguous(xp, v, dtype, what, "bn_backward_apply")
                   for v, what in ((gamma, "gamma"), (inv_std, "inv_std"), (sum_dy, "sum_dy"),
                                   (sum_dy_xhat, "sum_dy_xhat"))]
    dx = xp.empty_like(dy)
    BN_BWD(dtype, dy.size, dy, x_hat, *per_channel, dx, dtype.type(M),
           *np.int32([dy.size, C, dy.size // max(1, dy.shape[0] * C)]))
    return dx
