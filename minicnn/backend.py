"""Array-module dispatch: NumPy on the CPU, CuPy on the GPU (filled in by the GPU backend)."""
import numpy as np


def get_array_module(x):
    """Return the array module (numpy or cupy) that owns ``x``."""
    mod = type(x).__module__
    if mod.startswith("cupy"):
        import cupy

        return cupy
    return np
