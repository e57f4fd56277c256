"""2-D convolution, fast: the plain tier's im2col + GEMM (``minicnn/plain/conv.py``), arranged for speed.

The maths is the plain tier's; what changes is how the products are laid out and how much is held at once:

* Every product is computed with the filters' axis F as rows, W2 = w.reshape(F, -1) being ``weight_rows``:
  ``Y.T = W2 @ cols.T`` (F, N*H_out*W_out), ``dW = dY.T @ cols``, ``dcols.T = W2.T @ dY.T``. dY.T comes from dy
  by one cheap copy that swaps its N and F axes (whole H_out*W_out planes at a time), Y.T goes back to NCHW by
  the same swap, and no transpose that scatters single numbers is ever done.
* ``im2col`` fills cols.T (C*KH*KW, N*H_out*W_out) row by row and returns its transpose - the same (row, col)
  meaning, stored column-major - and dcols is made column-major the same way. In that order each kernel
  offset (c, p, q) is one contiguous row, which is what both the im2col copy and col2im's strided adds want.
* The batch goes through in blocks of samples whose cols has about 4096 rows and at most 32 MB (4 images for
  AlexNet's conv2, 14 for conv4) - large enough for full GEMM speed, small enough that cols never costs a
  few hundred MB (conv2's whole-batch cols is 224 MB) and that NumPy's allocator recycles the buffers instead
  of asking the kernel for fresh zeroed pages every time.
* The cache keeps the padded input, not cols (KH*KW times larger); backward rebuilds cols block by block.
* ``need_dx=False`` skips dcols and col2im: nobody needs the gradient with respect to the input image.
* ``conv2d_backward_into`` writes dw into an array the caller passes - the layers pass last step's dw - instead
  of a new one, which would be fresh memory the size of the filters every step (see ``minicnn/layers/base.py``).
* Stride-1 5x5 kernels (AlexNet's conv2) go through Winograd's F(2x2, 5x5) instead (``minicnn/fast/winograd.py``):
  2.6x fewer multiplications, 0.8-0.9x of the time, the same result to a few float32 roundings.
  ``USE_WINOGRAD = False`` turns it off; ``choose_tile`` says which shapes use it.
* On the CPU the blocks of samples are shared among the fast tier's threads (``minicnn/fast/threads.py``), each
  running its own single-threaded GEMMs; each block writes its own samples of y and dx and returns its share of
  dw and db, which are added up at the end.

On the GPU, ``im2col`` and ``col2im`` are the hand-written kernels of ``minicnn/kernels/conv.py``; the GEMMs go
to cuBLAS.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minicnn import kernels
from minicnn._geometry import conv2d_geometry, pad2d, unpad2d, windows
from minicnn.backend import get_array_module
from minicnn.fast.threads import even_blocks, get_threads, run_blocks
from minicnn.fast.winograd import choose_tile, extra_padding, winograd_backward, winograd_forward

USE_WINOGRAD = True  # stride-1 5x5 kernels on the CPU go through minicnn/fast/winograd.py


def im2col(x_pad, KH, KW, SH, SW, H_out, W_out):
    """(N, C, Hp, Wp) padded input -> cols (N*H_out*W_out, C*KH*KW), cols[(n, i, j), (c, p, q)] = x_pad[n, c, i*SH + p, j*SW + q].

    On the CPU the result is the transpose of a C-contiguous (C*KH*KW, N*H_out*W_out) array (column-major):
    the copy then reads whole rows of x and writes whole rows of cols.T, twice as fast as the row-major order.
    Callers must not rely on the memory order (matmul does not care).
    """
    if get_array_module(x_pad) is not np:
        return kernels.im2col(x_pad, KH, KW, SH, SW, H_out, W_out)
    N, C = x_pad.shape[:2]
    patches = windows(x_pad, KH, KW, SH, SW)  # (N, C, H_out, W_out, KH, KW), a view
    cols_t = np.empty((C, KH, KW, N, H_out, W_out), dtype=x_pad.dtype)
    cols_t[...] = patches.transpose(1, 4, 5, 0, 2, 3)  # the one copy
    return cols_t.reshape(C * KH * KW, N * H_out * W_out).T


def col2im(dcols, x_pad_shape, KH, KW, SH, SW, H_out, W_out):
    """Adjoint of im2col: add each row of ``dcols`` back onto the input pixels its patch came from::

        dx_pad[n, c, i*SH + p, j*SW + q] += dcols[(n, i, j), (c, p, q)]    for every (n, i, j), (c, p, q)

    One strided add per kernel offset (p, q). Correct for any memory order of ``dcols``; fast for the
    column-major one that ``conv2d_backward`` passes, where each (c, p, q) column is contiguous, so that every
    add reads whole rows (a row-major dcols would be read with a stride of C*KH*KW numbers: 10x slower on conv2).
    """
    if get_array_module(dcols) is not np:
        return kernels.col2im(dcols, x_pad_shape, KH, KW, SH, SW, H_out, W_out)
    N, C, Hp, Wp = x_pad_shape
    d = dcols.T.reshape(C, KH, KW, N, H_out, W_out)  # a view: d[c, p, q, n, i, j] = dcols[(n, i, j), (c, p, q)]
    dx_pad = np.zeros(x_pad_shape, dtype=dcols.dtype)
    for p in range(KH):
        for q in range(KW):
            dx_pad[:, :, p : p + SH * H_out : SH, q : q + SW * W_out : SW] += d[:, p, q].transpose(1, 0, 2, 3)
    return dx_pad


def sample_blocks(N, rows_per_sample, row_bytes, rows=4096, max_bytes=32 << 20):
    """Slices of the batch whose cols has about ``rows`` rows and at most ``max_bytes`` (at least 1 sample)."""
    step = max(1, min(rows // rows_per_sample, max_bytes // (rows_per_sample * row_bytes)))
    return [slice(start, start + step) for start in range(0, N, step)]


def _blocks_of(x_pad, w, H_out, W_out, threads):
    step = sample_blocks(x_pad.shape[0], H_out * W_out, w[0].size * x_pad.dtype.itemsize)[0].stop
    return even_blocks(x_pad.shape[0], step, threads)


@dataclass
class FastConvCache:
    x_pad: np.ndarray  # (N, C, Hp, Wp) the padded input; backward rebuilds cols from it
    w: np.ndarray  # (F, C, KH, KW)
    has_bias: bool
    stride: tuple  # (SH, SW)
    padding: tuple  # ((top, bottom), (left, right))
    tile: int = 0  # Winograd's output tile m, or 0 for im2col
    extra: tuple = (0, 0)  # Winograd's zero rows and columns below and right of the padding, in x_pad

    @property
    def x_pad_shape(self):  # as in the plain tier's ConvCache: the convolution's own padding only
        N, C, Hp, Wp = self.x_pad.shape
        return N, C, Hp - self.extra[0], Wp - self.extra[1]


def conv2d_forward(x, w, b, stride, padding):
    """y = conv(x, w) + b, shape (N, F, H_out, W_out); returns (y, cache). See ``minicnn.plain.conv2d_forward``."""
    (SH, SW), padding, H_out, W_out = conv2d_geometry(x, w, stride, padding, "conv2d_forward")
    N, F, (KH, KW) = x.shape[0], w.shape[0], w.shape[2:]
    xp = get_array_module(x)
    tile = choose_tile(KH, H_out, W_out) if USE_WINOGRAD and xp is np and KH == KW and SH == SW == 1 else 0
    if tile:
        extra = extra_padding(tile, H_out, W_out)
        (top, bottom), (left, right) = padding
        x_ext = pad2d(x, ((top, bottom + extra[0]), (left, right + extra[1])))
        y = winograd_forward(x_ext, w, tile, H_out, W_out)
        if b is not None:
            y += b.reshape(-1, 1, 1)
        return y, FastConvCache(x_ext, w, b is not None, (SH, SW), padding, tile, extra)
    x_pad = pad2d(x, padding)
    weight_rows = w.reshape(F, -1)  # (F, C*KH*KW)
    y = xp.empty((N, F, H_out, W_out), dtype=x.dtype)

    def forward_block(block):
        cols = im2col(x_pad[block], KH, KW, SH, SW, H_out, W_out)
        y_t = weight_rows @ cols.T  # Y.T of this block (F, n*H_out*W_out)
        del cols  # before the next block's cols is made
        if b is not None:
            y_t += b[:, None]
        y[block] = y_t.reshape(F, -1, H_out, W_out).transpose(1, 0, 2, 3)

    threads = get_threads() if xp is np else 1
    run_blocks(forward_block, _blocks_of(x_pad, w, H_out, W_out, threads), threads)
    return y, FastConvCache(x_pad, w, b is not None, (SH, SW), padding)


def conv2d_backward(dy, cache, *, need_dx=True):
    """(dx, dw, db) from dy (N, F, H_out, W_out); see ``minicnn.plain.conv2d_backward``."""
    return conv2d_backward_into(get_array_module(dy).empty_like(cache.w), dy, cache, need_dx=need_dx)


def conv2d_backward_into(dw, dy, cache, *, need_dx=True):
    """``conv2d_backward`` with dw written into ``dw`` (C-contiguous, w's shape and dtype), which it returns."""
    xp = get_array_module(dy)
    x_pad, w, (SH, SW) = cache.x_pad, cache.w, cache.stride
    N, F, (KH, KW), (H_out, W_out) = x_pad.shape[0], w.shape[0], w.shape[2:], dy.shape[2:]
    weight_rows = w.reshape(F, -1)
    if cache.tile:
        dx_ext, dw = winograd_backward(dy, x_pad, w, cache.tile, dw, need_dx)
        (top, bottom), (left, right) = cache.padding
        crop = ((top, bottom + cache.extra[0]), (left, right + cache.extra[1]))
        db = dy.sum(axis=(0, 2, 3)) if cache.has_bias else None
        return (None if dx_ext is None else unpad2d(dx_ext, crop)), dw, db
    (top, bottom), (left, right) = cache.padding
    dx = xp.empty((N, w.shape[1], x_pad.shape[2] - top - bottom, x_pad.shape[3] - left - right),
                  dtype=dy.dtype) if need_dx else None

    def backward_block(block):  # this block's share of dw and db; its own rows of dx
        dy_t = xp.ascontiguousarray(dy[block].transpose(1, 0, 2, 3)).reshape(F, -1)  # dY.T (F, n*H_out*W_out)
        cols = im2col(x_pad[block], KH, KW, SH, SW, H_out, W_out)
        dw_block = dy_t @ cols
        del cols  # before dcols, which is as large
        if dx is not None:
            dcols = (weight_rows.T @ dy_t).T  # (n*H_out*W_out, C*KH*KW), column-major
            dx_pad = col2im(dcols, x_pad[block].shape, KH, KW, SH, SW, H_out, W_out)
            del dcols
            dx[block] = unpad2d(dx_pad, cache.padding)
        return dw_block, dy_t.sum(axis=1)

    threads = get_threads() if xp is np else 1
    shares = run_blocks(backward_block, _blocks_of(x_pad, w, H_out, W_out, threads), threads)
    dw_rows = dw.reshape(F, -1)  # a view
    dw_rows[...] = shares[0][0]
    db = shares[0][1]
    for dw_block, db_block in shares[1:]:
        dw_rows += dw_block
        db += db_block
    return dx, dw, db if cache.has_bias else None
