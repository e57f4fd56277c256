"""Hand-written CUDA kernels for the GPU path of minicnn, all in one place.

Each op's NumPy *leaf* (``minicnn.layers.conv.im2col``, ``minicnn.layers.pool.maxpool_forward``, ...) has
one visible branch: for CuPy arrays it calls the launcher of the same name here, with the same arguments, and
gets the same return value. A launcher checks and prepares its arguments, allocates the outputs and launches
its kernel with one thread per output element. So for every op there are three things, kept side by side:

    the CUDA source        minicnn/kernels/<family>.py, a string with a shape comment on top
    its launch geometry    the launcher below it: how many threads, which arguments (core.CudaKernel)
    the reference          the NumPy leaf named in ``REGISTRY``: the kernel must equal it - bit for bit
                           where it only moves numbers, to rounding where it adds (``Entry.exact``)

``REGISTRY`` lists them; the tests (``tests/minicnn/test_kernels_*.py``), ``python -m minicnn.selfcheck`` and the
benchmarks walk it, so a new kernel is checked everywhere by adding one line. How a kernel is verified
without a GPU - NVRTC compilation (``nvrtc.py``) and a CPU emulation of the thread grid (``emulate.py``) - is
described in ``docs/gpu.md``. Given NumPy arrays instead of CuPy ones, a launcher runs its kernel under that
emulation (it needs a C++ compiler, and it is slow): that is how the kernels are tested, and how a reader can
step through one.

CuPy is not imported here; a kernel is compiled by ``cupy.RawKernel`` the first time it is launched on a GPU.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from minicnn import losses as _losses
from minicnn.kernels import cases
from minicnn.kernels.activations import RELU_BWD, RELU_FWD, relu_backward, relu_forward
from minicnn.kernels.batchnorm import BN_BWD, BN_FWD, bn_backward_apply, bn_forward_apply
from minicnn.kernels.conv import COL2IM, IM2COL, col2im, im2col
from minicnn.kernels.core import DTYPES, CudaKernel
from minicnn.kernels.dropout import DROPOUT_FWD, dropout_forward
from minicnn.kernels.losses import SOFTMAX_XENT_BWD, cross_entropy_grad
from minicnn.kernels.pool import MAXPOOL_BWD, MAXPOOL_FWD, maxpool_backward, maxpool_forward
from minicnn.layers import activations as _activations
from minicnn.layers import batchnorm as _batchnorm
from minicnn.layers import conv as _conv
from minicnn.layers import dropout as _dropout
from minicnn.layers import pool as _pool


@dataclass(frozen=True)
class Entry:
    """One GPU op: launcher, kernel, NumPy reference, input maker and the sizes it has in AlexNet-BN."""

    launcher: Callable  # minicnn.kernels.<name>: what the leaf calls for CuPy arrays
    kernel: CudaKernel  # the CUDA source it launches
    reference: Callable  # the NumPy leaf of the same name and signature; the kernel must equal it
    case: Callable  # (rng, dtype, **sizes) -> arguments for both, see minicnn.kernels.cases
    alexnet: dict  # sizes of this op in AlexNet-BN on 224x224 inputs, batch N chosen by the caller
    exact: bool = True  # moves or selects numbers only: must equal the reference bit for bit

    @property
    def name(self) -> str:
        return self.launcher.__name__


# conv1: 1 -> 96 (grey MRI), 11x11 stride 4 on 224x224 padded ((2, 1), (2, 1)) -> 55x55, then batch norm,
# ReLU and pool1 3x3 stride 2 -> 27x27; dropout after FC6 and FC7 (4096 units); 2 classes.
_CONV1 = dict(C=1, H=224, W=224, KH=11, KW=11, SH=4, SW=4, pad=((2, 1), (2, 1)))
_POOL1 = dict(C=96, H=55, W=55, KH=3, KW=3, SH=2, SW=2, pad=((0, 0), (0, 0)))
REGISTRY = {entry.name: entry for entry in [
    Entry(im2col, IM2COL, _conv.im2col, cases.im2col, _CONV1),
    Entry(col2im, COL2IM, _conv.col2im, cases.col2im, _CONV1, exact=False),
    Entry(maxpool_forward, MAXPOOL_FWD, _pool.maxpool_forward, cases.maxpool_forward, _POOL1),
    Entry(maxpool_backward, MAXPOOL_BWD, _pool.maxpool_backward, cases.maxpool_backward, _POOL1, exact=False),
    Entry(bn_forward_apply, BN_FWD, _batchnorm.bn_forward_apply, cases.bn_forward_apply, dict(C=96, H=55, W=55),
          exact=False),
    Entry(bn_backward_apply, BN_BWD, _batchnorm.bn_backward_apply, cases.bn_backward_apply, dict(C=96, H=55, W=55),
          exact=False),
    Entry(relu_forward, RELU_FWD, _activations.relu_forward, cases.relu_forward, dict(C=96, H=55, W=55)),
    Entry(relu_backward, RELU_BWD, _activations.relu_backward, cases.relu_backward, dict(C=96, H=55, W=55)),
    Entry(dropout_forward, DROPOUT_FWD, _dropout.dropout_forward, cases.dropout_forward,
          dict(C=4096, H=None, W=None, p_drop=0.6)),
    Entry(cross_entropy_grad, SOFTMAX_XENT_BWD, _losses.cross_entropy_grad, cases.cross_entropy_grad, dict(K=2),
          exact=False),
]}

__all__ = ["DTYPES", "REGISTRY", "Entry", "bn_backward_apply", "bn_forward_apply", "col2im", "cross_entropy_grad",
           "dropout_forward", "im2col", "maxpool_backward", "maxpool_forward", "relu_backward", "relu_forward"]
