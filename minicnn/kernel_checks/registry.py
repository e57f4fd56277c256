"""Every GPU kernel with its launcher, its NumPy reference and its test inputs: ``REGISTRY``.

Used by the tests (``tests/minicnn/test_kernels_*.py``), ``python -m minicnn.selfcheck`` and the benchmarks -
never by the engine itself (see ``minicnn/kernel_checks/__init__.py``).

The reference of each kernel is the **fast tier's CPU leaf** of the same name (``minicnn.fast.conv.im2col``,
``minicnn.fast.batchnorm.bn_forward_apply``, ...), not a plain-tier function, because a kernel replaces exactly
that leaf: same arguments, same return values, same memory layout (im2col's column-major cols, max pooling's
int32 argmax offsets), so it can be compared bit for bit where it only moves numbers. The plain tier's
functions work at the level of whole ops (``conv2d_forward`` -> ``(y, cache)``) and are the reference of the
fast tier in turn (``tests/minicnn/test_tiers.py``): plain -> fast CPU leaf -> CUDA kernel, each the oracle of
the next.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from minicnn import kernels
from minicnn.fast import activations, batchnorm, conv, dropout, losses, pool
from minicnn.kernel_checks import cases
from minicnn.kernels import activations as relu_kernels
from minicnn.kernels import batchnorm as bn_kernels
from minicnn.kernels import conv as conv_kernels
from minicnn.kernels import dropout as dropout_kernels
from minicnn.kernels import losses as loss_kernels
from minicnn.kernels import pool as pool_kernels
from minicnn.kernels.core import DTYPES, CudaKernel


@dataclass(frozen=True)
class Entry:
    """One GPU op: launcher, kernel, NumPy reference, input maker and the sizes it has in AlexNet-BN."""

    launcher: Callable  # minicnn.kernels.<name>: what the fast tier's leaf calls for CuPy arrays
    kernel: CudaKernel  # the CUDA source it launches
    reference: Callable  # the fast tier's NumPy leaf of the same name and signature; the kernel must equal it
    case: Callable  # (rng, dtype, **sizes) -> arguments for both, see minicnn.kernel_checks.cases
    alexnet: dict  # sizes of this op in AlexNet-BN on 224x224 inputs, batch N chosen by the caller
    exact: bool = True  # moves or selects numbers only: must equal the reference bit for bit

    @property
    def name(self) -> str:
        return self.launcher.__name__


# conv1: 1 -> 96 (grey MRI), 11x11 stride 4 on 224x224 padded ((2, 1), (2, 1)) -> 55x55, then batch norm,
# ReLU and pool1 3x3 stride 2 -> 27x27; dropout after FC6 and FC7 (4096 units); 2 classes.
_CONV1 = dict(C=1, H=224, W=224, KH=11, KW=11, SH=4, SW=4, pad=((2, 1), (2, 1)))
_POOL1 = dict(C=96, H=55, W=55, KH=3, KW=3, SH=2, SW=2, pad=((0, 0), (0, 0)))
_BN1 = dict(C=96, H=55, W=55)
REGISTRY = {entry.name: entry for entry in [
    Entry(kernels.im2col, conv_kernels.IM2COL, conv.im2col, cases.im2col, _CONV1),
    Entry(kernels.col2im, conv_kernels.COL2IM, conv.col2im, cases.col2im, _CONV1, exact=False),
    Entry(kernels.maxpool_forward, pool_kernels.MAXPOOL_FWD, pool.maxpool_forward, cases.maxpool_forward, _POOL1),
    Entry(kernels.maxpool_backward, pool_kernels.MAXPOOL_BWD, pool.maxpool_backward, cases.maxpool_backward, _POOL1,
          exact=False),
    Entry(kernels.bn_forward_apply, bn_kernels.BN_FWD, batchnorm.bn_forward_apply, cases.bn_forward_apply, _BN1,
          exact=False),
    Entry(kernels.bn_backward_apply, bn_kernels.BN_BWD, batchnorm.bn_backward_apply, cases.bn_backward_apply, _BN1,
          exact=False),
    Entry(kernels.relu_forward_apply, relu_kernels.RELU_FWD, activations.relu_forward_apply, cases.relu_forward_apply,
          _BN1),
    Entry(kernels.relu_backward_apply, relu_kernels.RELU_BWD, activations.relu_backward_apply,
          cases.relu_backward_apply, _BN1),
    Entry(kernels.dropout_forward_apply, dropout_kernels.DROPOUT_FWD, dropout.dropout_forward_apply,
          cases.dropout_forward_apply, dict(C=4096, H=None, W=None, p_drop=0.6)),
    Entry(kernels.cross_entropy_grad, loss_kernels.SOFTMAX_XENT_BWD, losses.cross_entropy_grad,
          cases.cross_entropy_grad, dict(K=2), exact=False),
]}

__all__ = ["DTYPES", "REGISTRY", "Entry"]
