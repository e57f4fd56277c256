"""Max pooling forward (value and argmax of every window) and backward (gather through the argmax).

NumPy reference: the fast tier's leaves ``minicnn.fast.pool.maxpool_forward`` / ``maxpool_backward``, whose signatures and return
values the launchers below share. Conventions, as there: the input is already padded with -inf; ``argmax`` is
the int32 offset ``kh*KW + kw`` inside the window; on ties the *first* maximum in row-major order wins (a
strict ``>`` while walking the window); overlapping windows (3x3 stride 2) may send several gradients to one
pixel, and they add up. The kernel adds them in the windows' row-major order, as ``np.add.at`` does.
"""
from __future__ import annotations

import numpy as np

from minicnn.backend import get_array_module
from minicnn.kernels.core import WINDOW_RANGE, CudaKernel, contiguous, real_dtype

MAXPOOL_FWD = CudaKernel("maxpool_fwd", r"""
// maxpool_fwd: one thread per output element.
//   x_pad (N, C, Hp, Wp), padded with -inf  ->  y (N, C, H_out, W_out), argmax (N, C, H_out, W_out) int
//   y[n, c, ho, wo]      = max over kh, kw of x_pad[n, c, ho*SH + kh, wo*SW + kw]
//   argmax[n, c, ho, wo] = the first kh*KW + kw (row-major) where that maximum occurs
extern "C" __global__ void maxpool_fwd(const real_t* __restrict__ x_pad, real_t* __restrict__ y,
                                       int* __restrict__ argmax,
                                       int N, int C, int Hp, int Wp, int KH, int KW, int SH, int SW,
                                       int H_out, int W_out)
{
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= N * C * H_out * W_out) return;
    // index = ((n*C + c)*H_out + ho)*W_out + wo
    int rest = index;
    const int wo = rest % W_out;  rest /= W_out;
    const int ho = rest % H_out;  rest /= H_out;
    const int c = rest % C;
    const int n = rest / C;
    const real_t* window = x_pad + ((n * C + c) * Hp + ho * SH) * Wp + wo * SW;   // its top-left pixel
    real_t best = window[0];
    int best_k = 0;
    for (int kh = 0; kh < KH; ++kh) {
        for (int kw = 0; kw < KW; ++kw) {
            const real_t v = window[kh * Wp + kw];
            if (v > best) {                      // strict: an equal value later in the window does not win
                best = v;
                best_k = kh * KW + kw;
            }
        }
    }
    y[index] = best;
    argmax[index] = best_k;
}
""")

MAXPOOL_BWD = CudaKernel("maxpool_bwd", WINDOW_RANGE + r"""
// maxpool_bwd: one thread per padded-input pixel, gathering dy from every window whose winner it is.
//   dy, argmax (N, C, H_out, W_out)  ->  dx_pad (N, C, Hp, Wp)
//   dx_pad[n, c, h, w] = sum over the windows (ho, wo) that contain (h, w), in row-major order,
//                        with argmax[n, c, ho, wo] == (h - ho*SH)*KW + (w - wo*SW), of dy[n, c, ho, wo]
extern "C" __global__ void maxpool_bwd(const real_t* __restrict__ dy, const int* __restrict__ argmax,
                                       real_t* __restrict__ dx_pad,
                                       int N, int C, int Hp, int Wp, int KH, int KW, int SH, int SW,
                                       int H_out, int W_out)
{
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= N * C * Hp * Wp) return;
    // index = ((n*C + c)*Hp + h)*Wp + w
    int rest = index;
    const int w = rest % Wp;  rest /= Wp;
    const int h = rest % Hp;  rest /= Hp;
    const int c = rest % C;
    const int n = rest / C;
    const int ho_first = first_window(h, KH, SH), ho_last = last_window(h, SH, H_out);
    const int wo_first = first_window(w, KW, SW), wo_last = last_window(w, SW, W_out);
    real_t sum = 0;
    for (int ho = ho_first; ho <= ho_last; ++ho) {
        for (int wo = wo_first; wo <= wo_last; ++wo) {
            const int out = ((n * C + c) * H_out + ho) * W_out + wo;          // window (n, c, ho, wo)
            if (argmax[out] == (h - ho * SH) * KW + (w - wo * SW)) sum += dy[out];   // (h, w) won it
        }
    }
    dx_pad[index] = sum;
}
""")


def maxpool_forward(x_pad, KH, KW, SH, SW, H_out, W_out):
    """(N, C, Hp, Wp) -inf-padded input -> y (N, C, H_out, W_out) and int32 argmax (offset kh*KW + kw)."""
    xp = get_array_module(x_pad)
    dtype = real_dtype(x_pad, "maxpool_forward")
    x_pad = contiguous(xp, x_pad, dtype, "x_pad", "maxpool_forward")
    N, C, Hp, Wp = x_pad.shape
    y = xp.empty((N, C, H_out, W_out), dtype=dtype)
    argmax = xp.empty((N, C, H_out, W_out), dtype=np.int32)
    MAXPOOL_FWD(dtype, y.size, x_pad, y, argmax, *np.int32([N, C, Hp, Wp, KH, KW, SH, SW, H_out, W_out]))
    return y, argmax


def maxpool_backward(dy, argmax, x_pad_shape, KH, KW, SH, SW):
    """dy and argmax (N, C, H_out, W_out) -> dx_pad of ``x_pad_shape`` (N, C, Hp, Wp)."""
    xp = get_array_module(dy)
    dtype = real_dtype(dy, "maxpool_backward")
    dy = contiguous(xp, dy, dtype, "dy", "maxpool_backward")
    argmax = contiguous(xp, argmax, np.dtype(np.int32), "argmax", "maxpool_backward")
    if argmax.shape != dy.shape:
        raise ValueError(f"minicnn.kernels.maxpool_backward: argmax has shape {tuple(argmax.shape)}, "
                         f"dy {tuple(dy.shape)}; they must match")
    N, C, Hp, Wp = x_pad_shape
    H_out, W_out = dy.shape[2:]
    dx_pad = xp.empty(tuple(x_pad_shape), dtype=dtype)
    MAXPOOL_BWD(dtype, dx_pad.size, dy, argmax, dx_pad, *np.int32([N, C, Hp, Wp, KH, KW, SH, SW, H_out, W_out]))
    return dx_pad
