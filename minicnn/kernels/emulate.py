"""Run a kernel's CUDA C source on the CPU: a sequential emulation of the CUDA thread grid.

There is no GPU on the machines this project is built and tested on, yet every kernel must be shown to compute
what its NumPy reference computes. So the *same* CUDA source is compiled with the host's C++ compiler, after a
small prelude that makes it ordinary C++::

    __global__, __device__      become nothing / ``static inline``
    threadIdx, blockIdx,        become global ``dim3`` variables ...
    blockDim, gridDim
    kernel<<<grid, block>>>     ... that a generated driver sets while it loops over every block and every
                                thread of the grid, one after the other, calling the kernel once per thread

Sequential execution is a faithful model only for kernels that never rely on threads running together: no
shared memory, no ``__syncthreads``, no warp-synchronous tricks, no atomics, and every thread writing only its
own outputs (gather, never scatter). minicnn's kernels are all written that way, so the order in which the
emulator visits the threads cannot change the result.

It also checks what the GPU would not:

* every argument has exactly the C type of its parameter (an int64 where the kernel reads ``int``, or a
  non-contiguous array, is an error here, silent garbage on the GPU);
* every array lies between two guard bands, each array's filled with a byte value of its own: a thread that
  writes past either end - a missing bounds check - changes them and is reported (even when what it writes was
  read past the end of another array);
* arrays the kernel declares ``const`` are unchanged afterwards.

Each (source, name) is compiled once into a shared library, cached under the temporary directory by a hash
of its text (``MINICNN_EMULATE_CACHE`` overrides the place, ``CXX`` the compiler), and loaded with ctypes.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from minicnn.serialize import write_bytes_atomic

PRELUDE = r"""
// ---- minicnn CPU emulation of the CUDA execution model (see minicnn/kernels/emulate.py) ----
#include <cmath>
struct dim3 { unsigned int x, y, z; };
static dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __global__
#define __device__ static inline
#define __forceinline__ inline
// ---- the kernel's own source follows ----
"""

DRIVER = r"""
// ---- generated driver: the whole grid, one thread after another ----
extern "C" void minicnn_emulate_grid(unsigned int gx, unsigned int gy, unsigned int gz,
                                     unsigned int bx, unsigned int by, unsigned int bz, {params})
{{
    gridDim.x = gx; gridDim.y = gy; gridDim.z = gz;
    blockDim.x = bx; blockDim.y = by; blockDim.z = bz;
    for (blockIdx.z = 0; blockIdx.z < gz; ++blockIdx.z)
    for (blockIdx.y = 0; blockIdx.y < gy; ++blockIdx.y)
    for (blockIdx.x = 0; blockIdx.x < gx; ++blockIdx.x)
        for (threadIdx.z = 0; threadIdx.z < bz; ++threadIdx.z)
        for (threadIdx.y = 0; threadIdx.y < by; ++threadIdx.y)
        for (threadIdx.x = 0; threadIdx.x < bx; ++threadIdx.x)
            {name}({args});
}}
"""

COMPILER_FLAGS = ["-std=c++14", "-O2", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math"]
GUARD_BYTES = 4096  # each side of every array: more than a last block of 256 spare threads overruns by (8 B each)

# C type name (after the typedef of real_t) -> NumPy dtype of the argument or of the pointed-to elements
_C_TYPES = {"float": np.dtype(np.float32), "double": np.dtype(np.float64), "int": np.dtype(np.int32)}
_CTYPES = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double,
           np.dtype(np.int32): ctypes.c_int32}

_loaded: dict[str, tuple[ctypes.CDLL, list]] = {}
_launch_lock = threading.Lock()  # callers on several threads (the fast tier's blocks) launch one at a time


class Parameter:
    """One kernel parameter parsed from the source, e.g. ``const real_t* __restrict__ x_pad``."""

    def __init__(self, text: str, real_t: np.dtype):
        words = text.replace("*", " * ").split()
        self.text, self.name = text.strip(), words[-1]
        self.is_pointer = "*" in words
        self.is_const = "const" in words
        base = [w for w in words[:-1] if w not in ("const", "*", "__restrict__")]
        if len(base) != 1 or (base[0] != "real_t" and base[0] not in _C_TYPES):
            raise ValueError(f"emulate: unsupported parameter type in {text.strip()!r} "
                             f"(use real_t, float, double or int, or pointers to them)")
        self.dtype = real_t if base[0] == "real_t" else _C_TYPES[base[0]]


def parse_parameters(source: str, name: str, real_t) -> list[Parameter]:
    """The parameters of ``extern "C" __global__ void name(...)`` in ``source``."""
    match = re.search(r'extern\s+"C"\s+__global__\s+void\s+' + re.escape(name) + r"\s*\(([^)]*)\)", source)
    if match is None:
        raise ValueError(f'emulate: no `extern "C" __global__ void {name}(...)` in the source')
    return [Parameter(p, np.dtype(real_t)) for p in match.group(1).split(",")]


def _cache_dir() -> str:
    path = os.environ.get("MINICNN_EMULATE_CACHE") or os.path.join(
        tempfile.gettempdir(), f"minicnn-emulate-{os.getuid() if hasattr(os, 'getuid') else 'user'}")
    os.makedirs(path, exist_ok=True)
    return path


def build(source: str, name: str, real_t) -> tuple[ctypes.CDLL, list[Parameter]]:
    """Compile ``source`` (with its driver) into a shared library once; return it and the kernel's parameters."""
    params = parse_parameters(source, name, real_t)
    driver = DRIVER.format(params=", ".join(p.text for p in params), name=name,
                           args=", ".join(p.name for p in params))
    text = PRELUDE + source + driver
    compiler = os.environ.get("CXX", "g++")
    key = hashlib.sha256("\n".join([compiler, *COMPILER_FLAGS, text]).encode()).hexdigest()[:20]
    if key in _loaded:
        return _loaded[key]
    library = os.path.join(_cache_dir(), f"{name}-{key}.so")
    if not os.path.exists(library):
        if shutil.which(compiler) is None:
            raise RuntimeError(f"emulate: the C++ compiler {compiler!r} was not found; the CPU emulation of the "
                               f"CUDA kernels needs one (apt install g++, or set CXX)")
        with tempfile.TemporaryDirectory(dir=_cache_dir()) as work:
            cpp = os.path.join(work, f"{name}.cpp")
            with open(cpp, "w") as f:
                f.write(text)
            built = os.path.join(work, f"{name}.so")
            run = subprocess.run([compiler, *COMPILER_FLAGS, cpp, "-o", built], capture_output=True, text=True)
            if run.returncode != 0:
                numbered = "\n".join(f"{i + 1:4d} {line}" for i, line in enumerate(text.splitlines()))
                raise RuntimeError(f"emulate: {compiler} could not compile kernel {name!r}:\n{run.stderr}\n{numbered}")
            write_bytes_atomic(library, Path(built).read_bytes())  # a parallel test run sees the whole file or none
    lib = ctypes.CDLL(library)
    lib.minicnn_emulate_grid.restype = None
    lib.minicnn_emulate_grid.argtypes = [ctypes.c_uint] * 6 + [
        ctypes.c_void_p if p.is_pointer else _CTYPES[p.dtype] for p in params]
    _loaded[key] = (lib, params)
    return lib, params


def launch(source: str, name: str, real_t, grid, block, args) -> None:
    """Run ``name<<<grid, block>>>(*args)`` on the CPU; arrays in ``args`` are updated in place like on the GPU."""
    lib, params = build(source, name, real_t)
    if len(args) != len(params):
        raise TypeError(f"emulate: kernel {name} takes {len(params)} arguments, got {len(args)}")
    guarded, c_args = [], []
    for position, (param, arg) in enumerate(zip(params, args)):
        if param.is_pointer:
            if not isinstance(arg, np.ndarray) or arg.dtype != param.dtype or not arg.flags.c_contiguous:
                got = (f"{arg.dtype} array, C-contiguous={arg.flags.c_contiguous}" if isinstance(arg, np.ndarray)
                       else type(arg).__name__)
                raise TypeError(f"emulate: {name}({param.text}) needs a C-contiguous {param.dtype} array, got {got}")
            fill = 0xA0 + position
            buffer = np.full(arg.nbytes + 2 * GUARD_BYTES, fill, dtype=np.uint8)
            buffer[GUARD_BYTES:GUARD_BYTES + arg.nbytes] = arg.reshape(-1).view(np.uint8)
            guarded.append((param, arg, buffer, fill))
            c_args.append(buffer.ctypes.data + GUARD_BYTES)
        else:
            if not isinstance(arg, np.generic) or arg.dtype != param.dtype:
                raise TypeError(f"emulate: {name}({param.text}) needs a numpy.{param.dtype} scalar, "
                                f"got {type(arg).__name__} {getattr(arg, 'dtype', '')}".rstrip())
            c_args.append(arg.item())
    with _launch_lock:  # the emulated threadIdx/blockIdx are globals of the library: one grid at a time
        lib.minicnn_emulate_grid(*grid, *block, *c_args)
    for param, arg, buffer, fill in guarded:
        inside = buffer[GUARD_BYTES:GUARD_BYTES + arg.nbytes]
        if (buffer[:GUARD_BYTES] != fill).any() or (buffer[GUARD_BYTES + arg.nbytes:] != fill).any():
            raise AssertionError(f"emulate: kernel {name} wrote outside array {param.name!r} "
                                 f"(a thread without a bounds check?)")
        if param.is_const:
            if (inside != arg.reshape(-1).view(np.uint8)).any():
                raise AssertionError(f"emulate: kernel {name} changed its const input {param.name!r}")
        else:
            arg.reshape(-1).view(np.uint8)[...] = inside
