"""Winograd convolution F(m x m, r x r): the fast tier's algorithm for stride-1 square kernels up to 5x5.

The same correlation as im2col + GEMM (``minicnn.plain.conv2d_forward``), with fewer multiplications. In one
dimension, m outputs of an r-tap correlation, y[i] = sum_k d[i + k] g[k], come from an input tile d of
a = m + r - 1 numbers as

    y = A^T [(G g) * (B^T d)]          (* element-wise; A^T is m x a, G is a x r, B^T is a x a)

- a multiplications instead of m*r. In two dimensions the transforms act on both axes of an a x a input tile
(Lavin and Gray 2016, "Fast algorithms for convolutional neural networks"):

    Y = A^T [ (G g G^T) * (B^T d B) ] A

and summed over input channels the element-wise products become a^2 GEMMs, one per tile position (alpha, beta):
M[ab] = U[ab] @ V[ab] with U[ab] (F, C) the transformed filters and V[ab] (C, tiles) the transformed input tiles.
For conv2's 5x5 on 27x27 maps (F(2x2, 5x5): 36 products for 4 outputs, the map padded to 28x28) that is 2.6x
fewer multiplications than im2col's 25 per output; the transforms, the a^2 smaller GEMMs and the scatter of the
backward take back most of it: measured 0.8-0.9x of the im2col path's time for conv2 forward + backward, and
0.95-1.15x (no gain) for the 3x3 layers with F(4x4, 3x3) or F(2x2, 3x3), so only 5x5 kernels use it (``KERNELS``).

The matrices (Toom-Cook, ``winograd_matrices``): the a - 1 interpolation points 0, 1, -1, 2, -2 and the point at
infinity. A^T[i, j] = p_j^i, G[j, k] = p_j^k / prod_{l != j} (p_j - p_l), with the infinity column of A^T and row
of G the unit vectors picking the highest power; B^T is the unique solution of the identity above (solved once
and checked exact). Points beyond +-2 lose too much float32 precision, so tiles stop at a = 6: the result differs
from im2col's by a few float32 roundings of the largest |d||g| products (measured in
``tests/minicnn/test_fast_winograd.py``), not by the last bit only.

Everything is linear, so the backward is the adjoint of each step, in reverse:
dM = A dY A^T per tile; dU[ab] = dM[ab] @ V[ab]^T and dV[ab] = U[ab]^T @ dM[ab] (GEMMs); dd = B dV B^T added back
onto the overlapping input tiles (a col2im with stride m); dw = G^T dU G. Each transform over the whole batch is
one GEMM with the Kronecker product of the small matrices (``np.kron(B^T, B^T)`` is a^2 x a^2). The batch goes in
blocks of samples, and the backward recomputes V from the cached padded input, as the im2col path does.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from math import prod
import threading

import numpy as np

from minicnn._geometry import windows
from minicnn.fast.threads import even_blocks, run_blocks

POINTS = (0, 1, -1, 2, -2)  # the finite interpolation points; with infinity, tiles up to a = 6
MAX_TILE = len(POINTS) + 1
KERNELS = (5,)  # kernel sizes that measured faster than im2col: 5x5 (conv2, 0.8-0.9x); 3x3 measured 0.95-1.15x


@lru_cache(maxsize=None)
def winograd_matrices(m, r):
    """(A^T (m, a), G (a, r), B^T (a, a)) of F(m, r) in float64, a = m + r - 1 <= 6; see the module docstring."""
    a = m + r - 1
    if not (m >= 1 and r >= 1 and a <= MAX_TILE):
        raise ValueError(f"winograd_matrices: F({m}, {r}) needs a tile of {a} > {MAX_TILE} numbers")
    points = [Fraction(p) for p in POINTS[: a - 1]]
    AT = np.zeros((m, a))
    G = np.zeros((a, r))
    for j, p in enumerate(points):
        scale = prod(p - q for q in points if q != p)
        AT[:, j] = [float(p**i) for i in range(m)]
        G[j] = [float(p**k / scale) for k in range(r)]
    AT[m - 1, a - 1] = G[a - 1, r - 1] = 1.0  # the point at infinity
    # B^T: for every input offset s, sum_j AT[i, j] G[j, k] BT[j, s] = [s == i + k] for all i < m, k < r
    system = np.einsum("ij,jk->ikj", AT, G).reshape(m * r, a)
    target = np.zeros((m * r, a))
    for i in range(m):
        for k in range(r):
            target[i * r + k, i + k] = 1.0
    BT = np.round(np.linalg.lstsq(system, target, rcond=None)[0]) + 0.0  # integers for these points
    if not np.allclose(system @ BT, target, rtol=0, atol=1e-12):
        raise AssertionError(f"winograd_matrices: no exact B^T for F({m}, {r})")
    return AT, G, BT


def choose_tile(r, H_out, W_out):
    """The output tile m of F(m, r) with the fewest multiplications per image, a^2 * ceil(H/m) * ceil(W/m), or 0
    (the caller uses im2col) when none beats im2col's r^2 * H * W by at least 1.5x or r is not in ``KERNELS``."""
    if r not in KERNELS:
        return 0
    best, best_cost = 0, r * r * H_out * W_out / 1.5
    for m in range(2, MAX_TILE - r + 2):
        cost = (m + r - 1) ** 2 * -(-H_out // m) * -(-W_out // m)
        if cost < best_cost:
            best, best_cost = m, cost
    return best


def extra_padding(m, H_out, W_out):
    """Rows and columns of zeros beyond the convolution's own padding so that whole m x m tiles cover the output."""
    return -H_out % m, -W_out % m


def _kron_matrices(m, r, dtype):
    AT, G, BT = winograd_matrices(m, r)
    return np.kron(AT, AT).astype(dtype), np.kron(G, G).astype(dtype), np.kron(BT, BT).astype(dtype)


def transform_filters(w, m):
    """U (a^2, F, C): U[(alpha, beta)] = (G w[f, c] G^T)[alpha, beta]."""
    F, C, r = w.shape[0], w.shape[1], w.shape[2]
    _, GG, _ = _kron_matrices(m, r, w.dtype)
    return (GG @ w.reshape(F * C, r * r).T).reshape(-1, F, C)


def _input_tiles(x_ext, m, r, tiles, V):
    """V (a^2, C, n*TY*TX) <- the transformed input tiles of x_ext (n, C, m*TY + r - 1, m*TX + r - 1).

    ``tiles`` is scratch of V's shape: tiles[(i, j), c, (n, ty, tx)] = x_ext[n, c, ty*m + i, tx*m + j] (one copy),
    then V = kron(B^T, B^T) @ tiles, one GEMM.
    """
    a = m + r - 1
    n, C = x_ext.shape[:2]
    TY, TX = (x_ext.shape[2] - r + 1) // m, (x_ext.shape[3] - r + 1) // m
    tiles.reshape(a, a, C, n, TY, TX)[...] = windows(x_ext, a, a, m, m).transpose(4, 5, 1, 0, 2, 3)
    _, _, BB = _kron_matrices(m, r, x_ext.dtype)
    np.matmul(BB, tiles.reshape(a * a, -1), out=V.reshape(a * a, -1))
    return V


class _Workspace:
    """Scratch arrays for one call, one set per thread, reused by each block of samples that thread takes: one
    allocation each instead of one per block (fresh pages cost a page fault each)."""

    def __init__(self, dtype, **sizes):
        self._dtype, self._sizes, self._local = dtype, sizes, threading.local()

    def get(self, name, *shape):
        flat = getattr(self._local, name, None)
        if flat is None:
            flat = np.empty(self._sizes[name], dtype=self._dtype)
            setattr(self._local, name, flat)
        return flat[: int(np.prod(shape))].reshape(shape)


def sample_step(n, a, channels, tiles_per_sample, itemsize, max_bytes=16 << 20):
    """Samples per block so that one (a^2, channels, tiles) array stays below ``max_bytes`` (at least 1)."""
    return max(1, min(n, max_bytes // (a * a * channels * tiles_per_sample * itemsize)))


def winograd_forward(x_ext, w, m, H_out, W_out):
    """y (N, F, H_out, W_out) = the stride-1 correlation of x_ext (padded, plus ``extra_padding``) with w."""
    N, C = x_ext.shape[:2]
    F, r = w.shape[0], w.shape[2]
    a = m + r - 1
    TY, TX = (x_ext.shape[2] - r + 1) // m, (x_ext.shape[3] - r + 1) // m
    AA, _, _ = _kron_matrices(m, r, x_ext.dtype)
    U = transform_filters(w, m)
    y = np.empty((N, F, H_out, W_out), dtype=x_ext.dtype)
    step = sample_step(N, a, max(C, F), TY * TX, x_ext.dtype.itemsize)
    T = step * TY * TX
    work = _Workspace(x_ext.dtype, tiles=a * a * C * T, V=a * a * C * T, M=a * a * F * T, Y=m * m * F * T)
    def forward_block(block):
        n = len(x_ext[block])
        T = n * TY * TX
        V = _input_tiles(x_ext[block], m, r, work.get("tiles", a * a, C, T), work.get("V", a * a, C, T))
        M = np.matmul(U, V, out=work.get("M", a * a, F, T))  # the a^2 GEMMs
        Y = np.matmul(AA, M.reshape(a * a, -1), out=work.get("Y", m * m, F * T)).reshape(m, m, F, n, TY, TX)
        y[block] = Y.transpose(3, 2, 4, 0, 5, 1).reshape(n, F, TY * m, TX * m)[:, :, :H_out, :W_out]

    run_blocks(forward_block, even_blocks(N, step))
    return y


def winograd_backward(dy, x_ext, w, m, dw, need_dx):
    """(dx_ext or None, dw): the adjoint of ``winograd_forward``; dw (F, C, r, r) is overwritten."""
    N, C = x_ext.shape[:2]
    F, r = w.shape[0], w.shape[2]
    a = m + r - 1
    TY, TX = (x_ext.shape[2] - r + 1) // m, (x_ext.shape[3] - r + 1) // m
    AA, GG, BB = _kron_matrices(m, r, dy.dtype)
    U_t = transform_filters(w, m).transpose(0, 2, 1) if need_dx else None  # (a^2, C, F)
    dx_ext = np.zeros(x_ext.shape, dtype=dy.dtype) if need_dx else None
    step = sample_step(N, a, max(C, F), TY * TX, dy.dtype.itemsize)
    T = step * TY * TX
    work = _Workspace(dy.dtype, dY=m * m * F * T, dM=a * a * F * T, tiles=a * a * C * T, V=a * a * C * T)
    def backward_block(block):  # this block's share of dU; its own samples of dx_ext
        n = len(dy[block])
        T = n * TY * TX
        dY = work.get("dY", m, m, F, n, TY, TX)  # dY[i, j, f, (n, ty, tx)] = dy[n, f, ty*m + i, tx*m + j], 0 outside
        dY[...] = 0
        for i in range(m):
            for j in range(m):
                part = dy[block, :, i::m, j::m]
                dY[i, j, :, :, : part.shape[2], : part.shape[3]] = part.transpose(1, 0, 2, 3)
        dM = np.matmul(AA.T, dY.reshape(m * m, -1), out=work.get("dM", a * a, F * T)).reshape(a * a, F, T)
        tiles, V = work.get("tiles", a * a, C, T), work.get("V", a * a, C, T)
        _input_tiles(x_ext[block], m, r, tiles, V)
        dU_block = np.matmul(dM, V.transpose(0, 2, 1))
        if need_dx:
            dV = np.matmul(U_t, dM, out=V)  # (a^2, C, tiles); V is not needed any more
            dD = np.matmul(BB.T, dV.reshape(a * a, -1), out=tiles.reshape(a * a, -1)).reshape(a, a, C, n, TY, TX)
            dx_b = dx_ext[block]
            for i in range(a):
                for j in range(a):
                    dx_b[:, :, i : i + m * TY : m, j : j + m * TX : m] += dD[i, j].transpose(1, 0, 2, 3)
        return dU_block

    dU = sum(run_blocks(backward_block, even_blocks(N, step)))
    dw[...] = (GG.T @ dU.reshape(a * a, -1)).reshape(r, r, F, C).transpose(2, 3, 0, 1)
    return dx_ext, dw


__all__ = ["choose_tile", "extra_padding", "transform_filters", "winograd_backward", "winograd_forward",
           "winograd_matrices"]
