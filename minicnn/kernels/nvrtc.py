"""Compile a kernel's CUDA source to PTX with NVRTC - no GPU and no CUDA driver needed.

``cupy.RawKernel`` asks the driver which GPU it compiles for, so it fails on a machine without one. One level
down, CuPy's binding of the NVRTC library, ``cupy_backends.cuda.libs.nvrtc`` (``createProgram``,
``compileProgram``, ``getPTX``), only needs ``libnvrtc`` itself. Where that library comes from:

1. ``pip install nvidia-cuda-nvrtc-cu12`` puts ``libnvrtc.so.12`` under
   ``site-packages/nvidia/cuda_nvrtc/lib/`` (``pip install minicnn[gpu]`` installs it beside CuPy);
2. ``cuda.pathfinder.load_nvidia_dynamic_lib("nvrtc")`` (cuda-pathfinder comes with CuPy 14) finds it there,
   or in conda or a CUDA toolkit (``CUDA_PATH``), and loads it into the process;
3. CuPy's binding opens ``libnvrtc.so.12`` by name on first use, and the dynamic loader hands back the copy
   already loaded. For a CuPy without cuda-pathfinder, ``_preload`` loads the pip wheel's file itself.
"""
from __future__ import annotations

import ctypes
import glob
import importlib.util
import os

from minicnn.kernels.core import NVRTC_OPTIONS

DEFAULT_ARCH = "compute_75"  # the oldest virtual architecture CUDA 12.9 does not call deprecated (Turing)


class NvrtcUnavailable(RuntimeError):
    """CuPy's NVRTC binding or the NVRTC library itself cannot be loaded."""


class CompileError(RuntimeError):
    """NVRTC rejected a kernel's source; the message carries NVRTC's log."""


def _preload() -> str | None:
    """Load libnvrtc into the process; return where it was found (None: left to CuPy's own search)."""
    try:
        from cuda.pathfinder import load_nvidia_dynamic_lib

        return load_nvidia_dynamic_lib("nvrtc").abs_path
    except Exception:  # no cuda-pathfinder (CuPy 13), or it found nothing: try the pip wheel's folder
        pass
    spec = importlib.util.find_spec("nvidia.cuda_nvrtc") if importlib.util.find_spec("nvidia") else None
    for folder in (spec.submodule_search_locations if spec else []):
        for path in sorted(glob.glob(os.path.join(folder, "lib", "libnvrtc.so.*"))):
            if "builtins" not in path and ".alt." not in path:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                return path
    return None


def load():
    """``(binding, version, library path)``: CuPy's NVRTC binding, ready; or NvrtcUnavailable saying why."""
    try:
        from cupy_backends.cuda.libs import nvrtc
    except ImportError as error:
        raise NvrtcUnavailable(f"CuPy's NVRTC binding is not importable ({error}); "
                               f"pip install minicnn[gpu] (cupy-cuda12x and nvidia-cuda-nvrtc-cu12)") from error
    where = _preload()
    try:
        version = nvrtc.getVersion()
    except Exception as error:
        raise NvrtcUnavailable(f"the NVRTC library could not be loaded ({error}); "
                               f"pip install nvidia-cuda-nvrtc-cu12, or set CUDA_PATH to a CUDA 12 toolkit") from error
    return nvrtc, version, where


def compile_ptx(source: str, name: str, arch: str = DEFAULT_ARCH) -> tuple[str, str]:
    """Compile ``source`` (which defines ``name``) for the virtual architecture ``arch``: ``(ptx, log)``.

    The options are the ones ``minicnn.kernels`` gives ``cupy.RawKernel`` (``--fmad=false``).
    """
    nvrtc, _, _ = load()
    program = nvrtc.createProgram(source, f"{name}.cu", [], [])
    try:
        try:
            nvrtc.compileProgram(program, [f"--gpu-architecture={arch}", *NVRTC_OPTIONS])
        except nvrtc.NVRTCError as error:
            log = nvrtc.getProgramLog(program)
            raise CompileError(f"NVRTC could not compile kernel {name!r} ({error}):\n{log}") from error
        log = nvrtc.getProgramLog(program).strip("\x00").strip()
        ptx = nvrtc.getPTX(program)
        return (ptx.decode() if isinstance(ptx, bytes) else ptx).rstrip("\x00"), log
    finally:
        nvrtc.destroyProgram(program)
