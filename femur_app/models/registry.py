"""The registry of trainable networks: name -> builder, and what the configuration may name in each.

Every builder has the signature ``name(in_channels, num_classes, *, rng, width, input_size, dropout, l2,
l2_layers)`` and returns a ``minicnn`` ``Sequential`` whose ``gradcam_layer`` attribute names the top-level
layer Grad-CAM explains (the last convolutional stage), so that explain, the gallery and compare never guess it.
"""
from __future__ import annotations

import numpy as np

from femur_app.models.alexnet import L2_LAYERS as ALEXNET_L2_LAYERS, alexnet, alexnet_bn
from femur_app.models.googlenet import L2_LAYERS as GOOGLENET_L2_LAYERS, googlenet

MODELS = {"alexnet_bn": alexnet_bn, "alexnet": alexnet, "googlenet": googlenet}
L2_LAYERS = {"alexnet_bn": ALEXNET_L2_LAYERS, "alexnet": ALEXNET_L2_LAYERS, "googlenet": GOOGLENET_L2_LAYERS}


def build_model(name: str, *, rng: np.random.Generator, in_channels: int = 1, num_classes: int = 2, **kwargs):
    """The registered model ``name`` built with ``kwargs``; an unknown name lists the known ones."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; registered models: {sorted(MODELS)}")
    return MODELS[name](in_channels, num_classes, rng=rng, **kwargs)
