"""im2col and col2im: the two data-movement kernels of convolution (the GEMMs themselves go to cuBLAS).

NumPy reference: the fast tier's leaves ``minicnn.fast.conv.im2col`` and ``col2im`` - the launchers below
have exactly their signatures and return values, and the leaves call them for CuPy arrays.

What the matrix means (the engine's contract)::

    cols[(n, ho, wo), (c, kh, kw)] = x_pad[n, c, ho*SH + kh, wo*SW + kw]    cols: (N*H_out*W_out, C*KH*KW)

How it is stored: as the CPU leaf does, in column-major order, i.e. ``cols`` is the transpose (a view) of a
row-major ``cols_t`` (C*KH*KW, N*H_out*W_out). On the GPU this is also the better order: neighbouring threads
write neighbouring ``wo`` and read pixels SW apart, instead of reading KW-long runs scattered over the image.
The GEMMs do not care about the order; ``Conv2d`` hands col2im a column-major ``dcols`` in the same way.

col2im is the adjoint: every padded-input pixel receives the sum of the ``dcols`` entries that were copied
from it. The NumPy version scatters (one strided add per offset (kh, kw)); the kernel *gathers*: one thread
per pixel loops over the windows that contain it and adds up what they hold for it, so no two threads write
to the same place and no atomics are needed. The two add in different orders: equal up to rounding.
"""
from __future__ import annotations

import numpy as np

from minicnn.backend import get_array_module
from minicnn.kernels.core import WINDOW_RANGE, CudaKernel, contiguous, real_dtype

IM2COL = CudaKernel("im2col", r"""
// im2col: one thread per element of cols, stored transposed (as the CPU leaf stores it, see the module doc).
//   x_pad (N, C, Hp, Wp)  ->  cols_t (C*KH*KW, N*H_out*W_out)
//   cols_t[(c, kh, kw), (n, ho, wo)] = x_pad[n, c, ho*SH + kh, wo*SW + kw]
extern "C" __global__ void im2col(const real_t* __restrict__ x_pad, real_t* __restrict__ cols_t,
                                  int N, int C, int Hp, int Wp, int KH, int KW, int SH, int SW,
                                  int H_out, int W_out)
{
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= C * KH * KW * N * H_out * W_out) return;   // past the end: the last block's spare threads
    // index = ((((c*KH + kh)*KW + kw)*N + n)*H_out + ho)*W_out + wo   (row-major: the last axis varies fastest)
    int rest = index;
    const int wo = rest % W_out;  rest /= W_out;
    const int ho = rest % H_out;  rest /= H_out;
    const int n = rest % N;  rest /= N;
    const int kw = rest % KW;  rest /= KW;
    const int kh = rest % KH;
    const int c = rest / KH;
    const int h = ho * SH + kh, w = wo * SW + kw;              // the input pixel this entry copies
    cols_t[index] = x_pad[((n * C + c) * Hp + h) * Wp + w];
}
""")

COL2IM = CudaKernel("col2im", WINDOW_RANGE + r"""
// col2im: one thread per padded-input pixel, gathering from every window that covers it.
//   dcols_t (C*KH*KW, N*H_out*W_out)  ->  dx_pad (N, C, Hp, Wp)
//   dx_pad[n, c, h, w] = sum over the windows (ho, wo) that contain (h, w), in row-major order,
//                        of dcols_t[(c, kh, kw), (n, ho, wo)]  with kh = h - ho*SH, kw = w - wo*SW
extern "C" __global__ void col2im(const real_t* __restrict__ dcols_t, real_t* __restrict__ dx_pad,
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
    const int columns = N * H_out * W_out;                    // the length of one row of dcols_t
    real_t sum = 0;
    for (int ho = ho_first; ho <= ho_last; ++ho) {
        for (int wo = wo_first; wo <= wo_last; ++wo) {
            const int kh = h - ho * SH, kw = w - wo * SW;     // where (h, w) sits in window (ho, wo)
            sum += dcols_t[((c * KH + kh) * KW + kw) * columns + (n * H_out + ho) * W_out + wo];
        }
    }
    dx_pad[index] = sum;
}
""")


def im2col(x_pad, KH, KW, SH, SW, H_out, W_out):
    """(N, C, Hp, Wp) padded input -> cols (N*H_out*W_out, C*KH*KW), on the GPU: the transpose of cols_t."""
    xp = get_array_module(x_pad)
    dtype = real_dtype(x_pad, "im2col")
    x_pad = contiguous(xp, x_pad, dtype, "x_pad", "im2col")
    N, C, Hp, Wp = x_pad.shape
    cols_t = xp.empty((C * KH * KW, N * H_out * W_out), dtype=dtype)
    IM2COL(dtype, cols_t.size, x_pad, cols_t, *np.int32([N, C, Hp, Wp, KH, KW, SH, SW, H_out, W_out]))
    return cols_t.T


def col2im(dcols, x_pad_shape, KH, KW, SH, SW, H_out, W_out):
    """dcols (N*H_out*W_out, C*KH*KW) -> dx_pad of ``x_pad_shape`` (N, C, Hp, Wp), on the GPU.

    Reads ``dcols.T`` row-major: free for the column-major dcols that ``Conv2d`` makes, one copy otherwise.
    """
    xp = get_array_module(dcols)
    dtype = real_dtype(dcols, "col2im")
    N, C, Hp, Wp = x_pad_shape
    if dcols.shape != (N * H_out * W_out, C * KH * KW):
        raise ValueError(f"minicnn.kernels.col2im: dcols has shape {tuple(dcols.shape)}, expected "
                         f"{(N * H_out * W_out, C * KH * KW)}")
    dcols_t = contiguous(xp, dcols.T, dtype, "dcols", "col2im")
    dx_pad = xp.empty(tuple(x_pad_shape), dtype=dtype)
    COL2IM(dtype, dx_pad.size, dcols_t, dx_pad, *np.int32([N, C, Hp, Wp, KH, KW, SH, SW, H_out, W_out]))
    return dx_pad
