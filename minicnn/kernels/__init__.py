"""Hand-written CUDA kernels for the GPU path of minicnn, all in one place.

The fast tier (``minicnn.fast``) is built from *leaves* - ``im2col``, ``col2im``, ``maxpool_forward``,
``maxpool_backward``, ``bn_forward_apply``, ``bn_backward_apply``, ``relu_forward_apply``,
``relu_backward_apply``, ``dropout_forward_apply``, ``cross_entropy_grad`` - each with one visible branch: for
CuPy arrays it calls the launcher of the same name here, with the same arguments, and gets the same return
value. A launcher checks and prepares its arguments, allocates the outputs and launches its kernel with one
thread per output element. So for every op there are three things, kept side by side:

    the CUDA source        minicnn/kernels/<family>.py, a string with a shape comment on top
    its launch geometry    the launcher below it: how many threads, which arguments (core.CudaKernel)
    the reference          the fast tier's NumPy leaf of the same name: the kernel must equal it - bit for bit
                           where it only moves numbers, to rounding where it adds

How a kernel is verified without a GPU - NVRTC compilation (``nvrtc.py``) and a CPU emulation of the thread grid
(``emulate.py``) - is described in ``docs/gpu.md``. Given NumPy arrays instead of CuPy ones, a launcher runs its
kernel under that emulation (it needs a C++ compiler, and it is slow): that is how the kernels are tested, and how
a reader can step through one. What checks them lives apart, in ``minicnn.kernel_checks``: its ``REGISTRY`` pairs
every launcher with its reference and its test inputs, and the tests, ``python -m minicnn.selfcheck`` and the
benchmarks walk it, so a new kernel is checked everywhere by adding one line there.

Imports run one way: the fast tier imports this package, and this package imports no tier, no layer and nothing
that checks it - only ``minicnn.backend`` and, for the emulator's compiled files, ``minicnn.serialize``
(``tests/minicnn/test_imports.py`` reads every import to hold this). CuPy is not imported here; a kernel is
compiled by ``cupy.RawKernel`` the first time it is launched on a GPU.
"""
from __future__ import annotations

from minicnn.kernels.activations import relu_backward_apply, relu_forward_apply
from minicnn.kernels.batchnorm import bn_backward_apply, bn_forward_apply
from minicnn.kernels.conv import col2im, im2col
from minicnn.kernels.dropout import dropout_forward_apply
from minicnn.kernels.losses import cross_entropy_grad
from minicnn.kernels.pool import maxpool_backward, maxpool_forward

__all__ = ["bn_backward_apply", "bn_forward_apply", "col2im", "cross_entropy_grad", "dropout_forward_apply", "im2col",
           "maxpool_backward", "maxpool_forward", "relu_backward_apply", "relu_forward_apply"]
