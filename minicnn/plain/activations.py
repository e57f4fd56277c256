"""ReLU, plain: y = max(x, 0) and dx = dy * [y > 0].

The derivative at exactly 0 is taken as 0 (as PyTorch does), so the mask can be read off the output: y > 0
exactly where x > 0. A NaN input stays NaN forward and sends back 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minicnn.backend import get_array_module


@dataclass
class ReLUCache:
    y: np.ndarray  # the output; its sign pattern is the gradient mask


def relu_forward(x):
    """y = max(x, 0), any shape; returns (y, cache)."""
    y = get_array_module(x).maximum(x, 0)
    return y, ReLUCache(y)


def relu_backward(dy, cache):
    """dx = dy where y > 0, else 0."""
    return get_array_module(dy).where(cache.y > 0, dy, 0)
