"""Weight initialisation, always from a ``numpy.random.Generator`` that the caller passes in.

- ``normal_``: every conv/linear weight ~ N(0, std^2) - the paper's "normal initialisation" (std 0.01 is the
  classic AlexNet / MATLAB choice).
- ``he_normal_``: N(0, 2 / fan_in) (He et al. 2015), which keeps the activation variance constant through ReLU
  layers; the default for new layers.
Biases start at zero in both.
"""
from __future__ import annotations

import math

import numpy as np

from minicnn.backend import get_array_module


def he_std(weight_shape) -> float:
    """sqrt(2 / fan_in) where fan_in = in_channels * KH * KW (conv) or in_features (linear)."""
    fan_in = int(np.prod(weight_shape[1:]))
    return math.sqrt(2.0 / fan_in)


def _weighted_layers(model):
    for _, layer in model.named_layers():
        if "weight" in layer.params and layer.params["weight"].ndim in (2, 4):
            yield layer


def _reinit(model, std_for, rng):
    for layer in _weighted_layers(model):
        weight = layer.params["weight"]
        xp = get_array_module(weight)
        layer.params["weight"] = xp.asarray(rng.normal(0.0, std_for(weight.shape), size=weight.shape).astype(weight.dtype))
        if "bias" in layer.params:
            layer.params["bias"][...] = 0
    return model


def normal_(model, std: float = 0.01, *, rng: np.random.Generator):
    """Re-initialise every conv and linear weight of ``model`` from N(0, std^2); biases to zero."""
    return _reinit(model, lambda shape: std, rng)


def he_normal_(model, *, rng: np.random.Generator):
    """Re-initialise every conv and linear weight from N(0, 2 / fan_in); biases to zero."""
    return _reinit(model, he_std, rng)
