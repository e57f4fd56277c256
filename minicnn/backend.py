"""Devices: NumPy on the CPU, CuPy on an NVIDIA GPU - chosen explicitly, never by silent fallback.

The engine itself needs no switch: every op looks at its input with ``get_array_module(x)`` and runs on the
device that holds it. What a user does is put the model and the data on a device::

    from minicnn import backend
    backend.use("cupy")              # fails at once, with the fix, if CuPy or a GPU is missing
    model = backend.to_gpu(model)    # params, grads and buffers of every layer, moved in place
    x = backend.to_gpu(x)            # and each batch
    ...
    model = backend.to_cpu(model)    # back, e.g. before saving

``use`` also sets ``xp()``, the array module for code that creates new arrays on the chosen device.
CuPy is imported here only, and only when the GPU is asked for: without CuPy everything else imports and runs.
Nothing ever falls back to the CPU: asking for the GPU without one raises ``GPUUnavailableError``.
"""
from __future__ import annotations

import numpy as np

BACKENDS = ("numpy", "cupy")
INSTALL_HINT = "pip install minicnn[gpu]"

_current = "numpy"


class GPUUnavailableError(RuntimeError):
    """The GPU backend was asked for, but CuPy or a usable CUDA GPU is missing."""


def get_array_module(x):
    """Return the array module (numpy or cupy) that owns ``x``."""
    if type(x).__module__.startswith("cupy"):
        import cupy

        return cupy
    return np


def cupy_module():
    """Import CuPy and make sure it sees a GPU; otherwise raise GPUUnavailableError saying what to do."""
    try:
        import cupy
    except ImportError as error:
        raise GPUUnavailableError(
            f"minicnn's GPU backend needs CuPy, which is not installed ({error}). Install it with "
            f"`{INSTALL_HINT}` (CuPy for CUDA 12, on a machine with an NVIDIA GPU and driver), "
            f"or stay on the CPU with backend.use('numpy')."
        ) from error
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        reason = "no CUDA device was found"
    except Exception as error:  # CUDARuntimeError: no driver, driver too old, ...
        count, reason = 0, f"{type(error).__name__}: {error}"
    if count < 1:
        raise GPUUnavailableError(
            f"CuPy {cupy.__version__} is installed but cannot use a GPU ({reason}). minicnn does not fall back "
            f"to the CPU: run on a machine with an NVIDIA GPU (check `nvidia-smi`; `{INSTALL_HINT}` installs "
            f"CuPy for CUDA 12), or use backend.use('numpy')."
        )
    return cupy


def use(name: str) -> None:
    """Choose the device for new arrays: ``"numpy"`` (CPU, the default) or ``"cupy"`` (GPU, checked now)."""
    global _current
    if name not in BACKENDS:
        raise ValueError(f"backend.use: expected one of {BACKENDS}, got {name!r}")
    if name == "cupy":
        cupy_module()
    _current = name


def current() -> str:
    """The name of the backend chosen with ``use``: ``"numpy"`` or ``"cupy"``."""
    return _current


def xp():
    """The array module of the chosen backend (numpy or cupy)."""
    return cupy_module() if _current == "cupy" else np


def to_gpu(obj):
    """An array (or NumPy scalar) as a CuPy array, or a model with all its arrays moved to the GPU in place."""
    cupy = cupy_module()
    return _move(obj, lambda a: cupy.asarray(a), "to_gpu")


def to_cpu(obj):
    """An array as a NumPy array, or a model with all its arrays moved to the host in place."""
    return _move(obj, lambda a: a.get() if type(a).__module__.startswith("cupy") else np.asarray(a), "to_cpu")


def _is_array(obj) -> bool:
    return isinstance(obj, (np.ndarray, np.generic)) or type(obj).__module__.startswith("cupy")


def _is_model(obj) -> bool:
    return all(isinstance(getattr(obj, store, None), dict) for store in ("params", "grads", "buffers"))


def _move(obj, convert, what):
    if _is_array(obj):
        return convert(obj)
    if not _is_model(obj):
        raise TypeError(f"backend.{what}: expected an array or a model (an object with params, grads and buffers "
                        f"dicts), got {type(obj).__name__}")
    stack = [obj]
    while stack:  # the model and, through ``.layers``, every layer inside it
        layer = stack.pop()
        if not _is_model(layer):
            raise TypeError(f"backend.{what}: {type(layer).__name__} in a model's layers has no params, grads and "
                            f"buffers dicts")
        for store in (layer.params, layer.grads, layer.buffers):
            for key, value in store.items():
                store[key] = convert(value)
        if getattr(layer, "_cache", None) is not None:
            layer._cache = None  # it holds arrays of the old device: the next forward pass refills it
        stack.extend(getattr(layer, "layers", None) or [])
    return obj
