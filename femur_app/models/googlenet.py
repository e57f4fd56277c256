"""GoogLeNet (Inception v1, Szegedy et al. 2015), the paper's comparator, built from minicnn layers.

The 22-layer network without its auxiliary classifiers and local response normalisation (as most
re-implementations, torchvision's included, drop them). Each Inception module runs four branches on the same
input and concatenates them (``minicnn.layers.Concat``)::

    1x1 conv | 1x1 conv -> 3x3 conv | 1x1 conv -> 5x5 conv | 3x3 max pool (stride 1) -> 1x1 conv

with a ReLU after every convolution. The 5x5 branch is a true 5x5 as in the paper (torchvision uses 3x3).
Sizes for a 224x224 input: 112 -> 56 -> 28 (3a, 3b) -> 14 (4a-4e) -> 7 (5a, 5b) -> global average -> FC.
conv1 and the stride-2 pools use asymmetric padding so that every size is integral; for the pools that equals
the original's ceil-mode pooling, for conv1 the usual symmetric padding 3 whose last row is never read.

``width`` scales every channel count (``width=0.25`` is the reduced CPU variant; report it as such).
"""
from __future__ import annotations

import numpy as np

from femur_app.models.width import scaled
from minicnn.layers import AvgPool2d, Concat, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential

# (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection) for each Inception module, from the paper's Table 1
INCEPTION_WIDTHS = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}
HALVING_POOL = ((0, 1), (0, 1))  # 3x3 stride-2 max pool padding that halves an even size exactly
CONV1_PADDING = ((3, 2), (3, 2))  # 7x7 stride 2: (224 + 5 - 7) / 2 + 1 = 112 (symmetric 3 reads one unused row)
L2_LAYERS = ("conv1", "conv2_reduce", "conv2", "fc")  # the top-level layers with weights, which ``l2_layers`` may name
GRADCAM_LAYER = "inception5b"  # the last Inception module: the feature map Grad-CAM weighs


def conv_relu(in_c, out_c, kernel, rng, stride=1, padding=0, name=None):
    return Sequential(Conv2d(in_c, out_c, kernel, stride, padding, rng=rng, name=name), ReLU())


def inception(in_c, widths, rng, name):
    """One Inception module; returns (block, output channels)."""
    c1, r3, c3, r5, c5, pp = widths
    block = Concat(
        conv_relu(in_c, c1, 1, rng),
        Sequential(conv_relu(in_c, r3, 1, rng), conv_relu(r3, c3, 3, rng, padding=1)),
        Sequential(conv_relu(in_c, r5, 1, rng), conv_relu(r5, c5, 5, rng, padding=2)),
        Sequential(MaxPool2d(3, 1, padding=1), conv_relu(in_c, pp, 1, rng)),
        name=f"inception{name}",
    )
    return block, c1 + c3 + c5 + pp


def googlenet(in_channels=1, num_classes=2, *, rng=None, width=1.0, input_size=224, dropout=0.4, l2=0.0,
              l2_layers=()):
    """Inception v1 for ``input_size`` x ``input_size`` images (a multiple of 32).

    ``l2`` is applied to the weights of the top-level layers named in ``l2_layers`` (conv1, conv2_reduce,
    conv2, fc); the Inception modules' convolutions are not named one by one.
    """
    if input_size % 32:
        raise ValueError(f"googlenet: input_size must be a multiple of 32, got {input_size}")
    unknown = sorted(set(l2_layers) - set(L2_LAYERS))
    if unknown:
        raise ValueError(f"googlenet: l2_layers names unknown layers {unknown}; layers that take L2 are {L2_LAYERS}")
    rng = np.random.default_rng() if rng is None else rng

    layers = [conv_relu(in_channels, scaled(64, width), 7, rng, stride=2, padding=CONV1_PADDING, name="conv1"),
              MaxPool2d(3, 2, HALVING_POOL),
              conv_relu(scaled(64, width), scaled(64, width), 1, rng, name="conv2_reduce"),
              conv_relu(scaled(64, width), scaled(192, width), 3, rng, padding=1, name="conv2"),
              MaxPool2d(3, 2, HALVING_POOL)]
    channels = scaled(192, width)
    for stage in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
        block, channels = inception(channels, tuple(scaled(c, width) for c in INCEPTION_WIDTHS[stage]), rng, stage)
        layers.append(block)
        if stage in ("3b", "4e"):
            layers.append(MaxPool2d(3, 2, HALVING_POOL))
    final = input_size // 32
    layers += [AvgPool2d(final, name="global_pool"), Flatten(), Dropout(dropout, rng=rng),
               Linear(channels, num_classes, rng=rng, name="fc")]
    model = Sequential(*layers)
    for name in l2_layers:
        model.find(name).l2 = float(l2)
    model.gradcam_layer = GRADCAM_LAYER
    return model
