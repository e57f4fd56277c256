"""The registry of trainable networks: name -> builder, and what the configuration may name in each (the
``[model]`` section, ``ModelConfig``, checked here for the configuration and for a checkpoint's metadata alike).

Every builder has the signature ``name(in_channels, num_classes, *, rng, width, input_size, dropout, l2,
l2_layers)`` and returns a ``minicnn`` ``Sequential`` whose ``gradcam_layer`` attribute names the top-level
layer Grad-CAM explains (the last convolutional stage), so that explain, the gallery and compare never guess it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from femur_app.errors import problem
from femur_app.models.alexnet import L2_LAYERS as ALEXNET_L2_LAYERS, alexnet, alexnet_bn
from femur_app.models.googlenet import L2_LAYERS as GOOGLENET_L2_LAYERS, googlenet

MODELS = {"alexnet_bn": alexnet_bn, "alexnet": alexnet, "googlenet": googlenet}
L2_LAYERS = {"alexnet_bn": ALEXNET_L2_LAYERS, "alexnet": ALEXNET_L2_LAYERS, "googlenet": GOOGLENET_L2_LAYERS}
MAX_INPUT_SIZE = 1024  # pixels per side; the paper's is 224
MAX_WIDTH = 4.0  # channel multiplier; the paper's network is 1.0
# (smallest input side, the side must be a multiple of): AlexNet's pool5 needs 36 pixels; GoogLeNet halves the
# side five times exactly
INPUT_SIZES = {"alexnet_bn": (36, 1), "alexnet": (36, 1), "googlenet": (32, 32)}


def input_size_problem(name: str, size: int) -> str | None:
    """What is wrong with ``size`` as the input side of the registered model ``name``, or None."""
    smallest, multiple = INPUT_SIZES[name]
    if not smallest <= size <= MAX_INPUT_SIZE or size % multiple:
        what = f" and a multiple of {multiple}" if multiple > 1 else ""
        return f"{name} takes {smallest} to {MAX_INPUT_SIZE} pixels{what}"
    return None


def build_model(name: str, *, rng: np.random.Generator, in_channels: int = 1, num_classes: int = 2, **kwargs):
    """The registered model ``name`` built with ``kwargs``; an unknown name lists the known ones."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; registered models: {sorted(MODELS)}")
    return MODELS[name](in_channels, num_classes, rng=rng, **kwargs)


@dataclass(frozen=True)
class ModelConfig:
    """The ``[model]`` section of a run's configuration (``femur_app.config``)."""

    name: str  # a key of femur_app.models.MODELS
    width: float
    dropout: float
    l2: float
    l2_layers: list[str]

    def problems(self) -> list[str]:
        if self.name not in MODELS:
            return [problem("model.name", self.name, f"expected one of {sorted(MODELS)}")]
        found = []
        if not (math.isfinite(self.width) and 0 < self.width <= MAX_WIDTH):
            found.append(problem("model.width", self.width, f"expected a channel multiplier > 0 and at most {MAX_WIDTH}"))
        if not 0 <= self.dropout < 1:
            found.append(problem("model.dropout", self.dropout, "expected a drop probability 0 <= p < 1"))
        if not (math.isfinite(self.l2) and self.l2 >= 0):
            found.append(problem("model.l2", self.l2, "expected a finite L2 factor >= 0"))
        unknown = sorted(set(self.l2_layers) - set(L2_LAYERS[self.name]))
        if unknown:
            found.append(problem("model.l2_layers", self.l2_layers,
                                  f"{unknown} are not layers of {self.name}; expected some of {list(L2_LAYERS[self.name])}"))
        return found

    def builder_kwargs(self) -> dict:
        """The model builder's keyword arguments: every field but ``name``."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"}
