"""What every kernel here is, and how it is launched on the GPU (CuPy) or on the CPU (the emulator).

A kernel is CUDA C source with one ``extern "C" __global__`` function, written against ``real_t``: the same
text becomes the float32 kernel after ``typedef float real_t;`` and the float64 one after ``typedef double
real_t;``. Every kernel follows the same plan:

* one thread per output element, on a 1-D grid of blocks of ``BLOCK`` threads; the flat thread index is
  ``blockIdx.x * blockDim.x + threadIdx.x`` and the last block usually runs past the end, so every thread
  checks ``if (index >= total) return;`` first;
* it reads whatever inputs it needs (gather) and writes only its own outputs: no atomics, no shared memory,
  no cooperation between threads, hence no races - and the sequential CPU emulation is faithful;
* arguments are C-contiguous arrays of ``real_t`` (or ``int``) and NumPy-typed scalars (``numpy.int32``,
  ``numpy.float32``/``numpy.float64``): a ``RawKernel`` ignores strides and checks nothing, so the launchers
  in this package make sure of both, and the emulator refuses anything else;
* indices are ``int``: a launcher refuses arrays of 2**31 elements or more.

It is compiled with ``--fmad=false``: NVRTC would otherwise fuse ``a * b + c`` into one fused multiply-add
with a single rounding, which the CPU emulation (compiled with ``-ffp-contract=off``) does not do. Without
contraction on either side, the GPU rounds every operation as the emulator does, so what the emulation
verifies is what the GPU computes (the kernels are memory-bound, so fusing would gain little).
"""
from __future__ import annotations

import numpy as np

from minicnn.kernels import emulate

BLOCK = 256  # threads per block: a multiple of the warp size (32)
NVRTC_OPTIONS = ("--fmad=false",)
REAL_T = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
DTYPES = tuple(REAL_T)
INT_MAX = 2**31 - 1


# CUDA helpers for the two gather kernels (col2im, maxpool_bwd), put in front of their source.
WINDOW_RANGE = r"""
// The windows along one axis that contain pixel h: window o covers o*S .. o*S + K - 1, so it contains h
// when (h - K + 1)/S <= o <= h/S. First and last such o, clipped to the n_out windows there are
// (first > last when no window reaches h).
__device__ int first_window(int h, int K, int S) { return h < K ? 0 : (h - K) / S + 1; }  // ceil((h-K+1)/S)
__device__ int last_window(int h, int S, int n_out) { return h / S < n_out ? h / S : n_out - 1; }
"""


def real_dtype(x, where: str) -> np.dtype:
    """The float dtype the kernels are compiled for (float32 or float64), or a clear TypeError."""
    dtype = np.dtype(x.dtype)
    if dtype not in REAL_T:
        raise TypeError(f"minicnn.kernels.{where}: CUDA kernels exist for float32 and float64 arrays, got {dtype}")
    return dtype


def contiguous(xp, x, dtype, what: str, where: str):
    """``x`` as a C-contiguous array of exactly ``dtype`` (no copy when it already is one)."""
    if np.dtype(x.dtype) != dtype:
        raise TypeError(f"minicnn.kernels.{where}: {what} has dtype {x.dtype}, expected {dtype}")
    return xp.ascontiguousarray(x)


class CudaKernel:
    """One ``extern "C" __global__`` CUDA function: its source, its launch geometry, its compiled forms."""

    def __init__(self, name: str, source: str):
        self.name = name
        self.source = source
        self._compiled = {}  # dtype -> cupy.RawKernel, built on the first GPU launch

    def __repr__(self):
        return f"CudaKernel({self.name!r})"

    def source_for(self, dtype) -> str:
        """The complete CUDA C translation unit for float32 or float64."""
        return f"typedef {REAL_T[np.dtype(dtype)]} real_t;\n{self.source}"

    @staticmethod
    def geometry(n_threads: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """(grid, block) for one thread per element: ceil(n_threads / BLOCK) blocks of BLOCK threads."""
        return ((n_threads + BLOCK - 1) // BLOCK, 1, 1), (BLOCK, 1, 1)

    def __call__(self, dtype, n_threads: int, *args) -> None:
        """Launch over ``n_threads`` threads: on the GPU for CuPy arrays, in the CPU emulator for NumPy ones."""
        largest = max([n_threads] + [a.size for a in args if hasattr(a, "size") and not np.isscalar(a)])
        if largest > INT_MAX:
            raise ValueError(f"kernel {self.name}: {largest} elements do not fit the kernels' int indices "
                             f"(at most {INT_MAX}); use a smaller batch")
        if n_threads == 0:
            return
        grid, block = self.geometry(n_threads)
        if any(type(a).__module__.startswith("cupy") for a in args):
            self._raw_kernel(dtype)(grid, block, args)
        else:
            emulate.launch(self.source_for(dtype), self.name, dtype, grid, block, args)

    def _raw_kernel(self, dtype):
        dtype = np.dtype(dtype)
        if dtype not in self._compiled:
            import cupy  # only reached with CuPy arrays in hand, so CuPy is installed

            self._compiled[dtype] = cupy.RawKernel(self.source_for(dtype), self.name, options=NVRTC_OPTIONS)
        return self._compiled[dtype]
