"""2-D convolution as im2col + one matrix product (GEMM).

Forward, for a filter bank W of shape (F, C, KH, KW), bias b (F,), stride (SH, SW)::

    y[n, f, i, j] = b[f] + sum_{c, p, q} W[f, c, p, q] * x_pad[n, c, i*SH + p, j*SW + q]

im2col lays every receptive field out as one row, so the whole sum becomes one GEMM::

    cols  (N*H_out*W_out, C*KH*KW)     cols[(n, i, j), (c, p, q)] = x_pad[n, c, i*SH + p, j*SW + q]
    Y     = cols @ W.reshape(F, -1).T  (N*H_out*W_out, F)  -> reshaped to (N, F, H_out, W_out)

Backward, with dY the upstream gradient reshaped like Y::

    dW    = dY.T @ cols                (F, C*KH*KW)  + l2 * W   (the L2 penalty 0.5 * l2 * ||W||^2)
    db    = sum of dY over rows        (F,)
    dcols = dY @ W.reshape(F, -1)      (N*H_out*W_out, C*KH*KW)
    dx    = col2im(dcols)              every patch gradient added back where its patch came from

How the code arranges these products for speed (the maths above does not change):

* Every product is computed with the filters' axis F as rows, W2 = W.reshape(F, -1) being ``weight_rows``:
  ``Y.T = W2 @ cols.T`` (F, N*H_out*W_out), ``dW = dY.T @ cols``, ``dcols.T = W2.T @ dY.T``. dY.T comes from dy
  by one cheap copy that swaps its N and F axes (whole H_out*W_out planes at a time), Y.T goes back to NCHW by
  the same swap, and no transpose that scatters single numbers is ever done.
* ``im2col`` fills cols.T (C*KH*KW, N*H_out*W_out) row by row and returns its transpose - the same (row, col)
  meaning, stored column-major - and the layer makes dcols column-major the same way. In that order each kernel
  offset (c, p, q) is one contiguous row, which is what both the im2col copy and col2im's strided adds want.
* The batch goes through in blocks of samples whose cols has about 4096 rows and at most 32 MB (4 images for
  AlexNet's conv2, 14 for conv4) - large enough for full GEMM speed, small enough that cols never costs a
  few hundred MB (conv2's whole-batch cols is 224 MB) and that NumPy's allocator recycles the buffers instead
  of asking the kernel for fresh zeroed pages every time.
* The cache keeps the padded input, not cols (KH*KW times larger); backward rebuilds cols block by block.
* ``needs_input_grad = False`` skips dcols and col2im: nobody needs the gradient with respect to the input
  image (``model.needs_input_grad = False`` on a ``Sequential`` sets it on the first layer; see ``containers``).

``minicnn.naive.conv2d_forward`` / ``conv2d_backward`` are the same maths as plain loops, the oracle in tests.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minicnn._geometry import normalize_pair, normalize_padding, output_size, pad2d, unpad2d, windows
from minicnn.backend import get_array_module
from minicnn.init import he_std
from minicnn.layers.base import Layer


def im2col(x_pad, KH, KW, SH, SW, H_out, W_out):
    """(N, C, Hp, Wp) padded input -> cols (N*H_out*W_out, C*KH*KW), cols[(n, i, j), (c, p, q)] = x_pad[n, c, i*SH + p, j*SW + q].

    On the CPU the result is the transpose of a C-contiguous (C*KH*KW, N*H_out*W_out) array (column-major):
    the copy then reads whole rows of x and writes whole rows of cols.T, twice as fast as the row-major order.
    Callers must not rely on the memory order (matmul does not care).
    """
    xp = get_array_module(x_pad)
    if xp is not np:
        from minicnn import kernels

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
    column-major one that ``Conv2d`` passes, where each (c, p, q) column is contiguous, so that every add reads
    whole rows (a row-major dcols would be read with a stride of C*KH*KW numbers: 10x slower on conv2).
    """
    xp = get_array_module(dcols)
    if xp is not np:
        from minicnn import kernels

        return kernels.col2im(dcols, x_pad_shape, KH, KW, SH, SW, H_out, W_out)
    N, C, Hp, Wp = x_pad_shape
    d = dcols.T.reshape(C, KH, KW, N, H_out, W_out)  # a view: d[c, p, q, n, i, j] = dcols[(n, i, j), (c, p, q)]
    dx_pad = np.zeros(x_pad_shape, dtype=dcols.dtype)
    for p in range(KH):
        for q in range(KW):
            dx_pad[:, :, p : p + SH * H_out : SH, q : q + SW * W_out : SW] += d[:, p, q].transpose(1, 0, 2, 3)
    return dx_pad


@dataclass
class ConvCache:
    x_pad: np.ndarray  # (N, C, Hp, Wp) the padded input; backward rebuilds cols from it
    H_out: int
    W_out: int


class Conv2d(Layer):
    """Convolution over an (N, C, H, W) batch with F filters of size KH x KW (PyTorch's layout and maths).

    ``padding`` is an int, ``(ph, pw)`` or ``((top, bottom), (left, right))``. ``l2`` adds ``l2 * W`` to the
    weight gradient (penalty ``0.5 * l2 * ||W||^2``; never on the bias). Weights start He-normal
    (std = sqrt(2 / fan_in)) from ``rng``; ``minicnn.init`` re-initialises a model another way.

    ``needs_input_grad`` (default True): when False, ``backward`` fills the parameter gradients only and returns
    None - what the first layer of a network needs, since nothing upstream uses dL/dx.
    """

    needs_input_grad = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, *,
                 l2=0.0, name=None, rng=None, dtype=np.float32):
        super().__init__(name)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = normalize_pair(kernel_size, "kernel_size")
        self.stride = normalize_pair(stride, "stride")
        self.padding = normalize_padding(padding)
        self.l2 = float(l2)
        KH, KW = self.kernel_size
        rng = np.random.default_rng() if rng is None else rng
        shape = (self.out_channels, self.in_channels, KH, KW)
        self.params["weight"] = rng.normal(0.0, he_std(shape), size=shape).astype(dtype)
        if bias:
            self.params["bias"] = np.zeros(self.out_channels, dtype=dtype)

    def output_shape(self, H, W):
        (KH, KW), (SH, SW) = self.kernel_size, self.stride
        return (output_size(H, KH, SH, self.padding[0], self, "height"),
                output_size(W, KW, SW, self.padding[1], self, "width"))

    def forward(self, x, train=True):
        self._check_input(x, 4, self.in_channels)
        N, _, H, W = x.shape
        F = self.out_channels
        H_out, W_out = self.output_shape(H, W)
        (KH, KW), (SH, SW) = self.kernel_size, self.stride
        xp = get_array_module(x)
        x_pad = pad2d(x, self.padding)
        weight_rows = self.params["weight"].reshape(F, -1)  # (F, C*KH*KW)
        y = xp.empty((N, F, H_out, W_out), dtype=x.dtype)
        for block in self._sample_blocks(N, H_out * W_out, x.dtype):
            cols = im2col(x_pad[block], KH, KW, SH, SW, H_out, W_out)
            y_t = weight_rows @ cols.T  # Y.T of this block (F, n*H_out*W_out)
            del cols  # before the next block's cols is made
            if "bias" in self.params:
                y_t += self.params["bias"][:, None]
            y[block] = y_t.reshape(F, -1, H_out, W_out).transpose(1, 0, 2, 3)
        self._cache = ConvCache(x_pad, H_out, W_out)
        return y

    def backward(self, dy):
        cache = self._require_cache()
        x_pad, H_out, W_out = cache.x_pad, cache.H_out, cache.W_out
        N, F = x_pad.shape[0], self.out_channels
        if tuple(dy.shape) != (N, F, H_out, W_out):
            raise ValueError(f"{self!r}: dy has shape {tuple(dy.shape)}, expected "
                             f"{(N, F, H_out, W_out)} (the forward output)")
        xp = get_array_module(dy)
        (KH, KW), (SH, SW) = self.kernel_size, self.stride
        weight = self.params["weight"]
        weight_rows = weight.reshape(F, -1)
        dW = _grad_buffer(self, "weight")
        dW[...] = 0
        dW_rows = dW.reshape(F, -1)  # a view
        db = xp.zeros(F, dtype=dy.dtype)
        (top, bottom), (left, right) = self.padding
        dx = xp.empty((N, self.in_channels, x_pad.shape[2] - top - bottom, x_pad.shape[3] - left - right),
                      dtype=dy.dtype) if self.needs_input_grad else None
        for block in self._sample_blocks(N, H_out * W_out, dy.dtype):
            dy_t = xp.ascontiguousarray(dy[block].transpose(1, 0, 2, 3)).reshape(F, -1)  # dY.T (F, n*H_out*W_out)
            cols = im2col(x_pad[block], KH, KW, SH, SW, H_out, W_out)
            dW_rows += dy_t @ cols
            del cols  # before dcols, which is as large
            db += dy_t.sum(axis=1)
            if dx is not None:
                dcols = (weight_rows.T @ dy_t).T  # (n*H_out*W_out, C*KH*KW), column-major
                dx_pad = col2im(dcols, x_pad[block].shape, KH, KW, SH, SW, H_out, W_out)
                del dcols
                dx[block] = unpad2d(dx_pad, self.padding)
        if self.l2:
            dW += self.l2 * weight
        if "bias" in self.params:
            self.grads["bias"] = db
        return dx

    def _sample_blocks(self, N, rows_per_sample, dtype, rows=4096, max_bytes=32 << 20):
        """Slices of the batch whose cols has about ``rows`` rows and at most ``max_bytes`` (at least 1 sample)."""
        KH, KW = self.kernel_size
        row_bytes = self.in_channels * KH * KW * np.dtype(dtype).itemsize
        step = max(1, min(rows // rows_per_sample, max_bytes // (rows_per_sample * row_bytes)))
        return [slice(start, start + step) for start in range(0, N, step)]


def _grad_buffer(layer, key):
    """``layer.grads[key]``, reused when it already has the parameter's shape and dtype, else a new array.

    Writing each step's gradient into last step's buffer saves an allocation the size of the weights (150 MB
    for AlexNet's fc6) at the moment memory is fullest. Copy a gradient if you need it after the next backward.
    """
    param, grad = layer.params[key], layer.grads.get(key)
    if grad is None or grad.shape != param.shape or grad.dtype != param.dtype or type(grad) is not type(param):
        grad = layer.grads[key] = get_array_module(param).empty_like(param)
    return grad
