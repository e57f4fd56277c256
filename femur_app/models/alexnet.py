"""The paper's networks, built from minicnn layers, and the registry that names them for the trainer.

AlexNet (Krizhevsky et al. 2012) as the paper describes it (sections 2.2-2.4), ungrouped::

    conv1 11x11 stride 4, 96  -> [BN] -> ReLU -> max pool 3x3 stride 2
    conv2 5x5 pad 2,     256  -> [BN] -> ReLU -> max pool 3x3 stride 2
    conv3 3x3 pad 1,     384  -> ReLU
    conv4 3x3 pad 1,     384  -> ReLU
    conv5 3x3 pad 1,     256  -> ReLU -> max pool 3x3 stride 2
    fc6 4096 -> ReLU -> dropout 0.6,  fc7 4096 -> ReLU -> dropout 0.6,  fc8 2 (logits; softmax in the loss)

``alexnet_bn`` puts batch normalisation after conv1 and conv2, before their ReLU (the paper's enhancement);
``alexnet`` is the same network without it (the ablation). Sizes for a 224 x 224 input:
224 -> 55 -> 27 -> 27 -> 13 -> 13 -> 13 -> 13 -> 6, so fc6 sees 256 * 6 * 6 = 9216 numbers.

Padding is explicit, so that every size is an integer (minicnn refuses a fractional one):
conv1 on 224 without padding would give (224 - 11) / 4 + 1 = 54.25. ``conv1_padding`` pads the fewest rows
that make (size + pad - 11) divisible by 4, one more on top/left than on bottom/right when the count is odd:
((2, 1), (2, 1)) for 224 (55 outputs, like torchvision's symmetric 2, whose last row is never read) and none
for Caffe's 227. A 3x3 stride-2 pool needs an odd input; an even one gets one padding row at the bottom/right
(``pool_padding``), which is ceil-mode pooling.

``width`` multiplies every channel count and both hidden fully connected widths; ``width=1`` is the paper's
network. A smaller width with a smaller input is the *reduced CPU variant* of the ``--quick`` profile: the
same topology, not the paper's model, and reports name it as such.
"""
from __future__ import annotations

import numpy as np

from femur_app.models.width import scaled
from minicnn.layers import BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential

ALEXNET_CHANNELS = (96, 256, 384, 384, 256)  # conv1..conv5, the original widths (ungrouped)
ALEXNET_FC = 4096  # fc6 and fc7
CONV_NAMES = ("conv1", "conv2", "conv3", "conv4", "conv5")
L2_LAYERS = CONV_NAMES + ("fc6", "fc7", "fc8")  # the layers with weights, which ``l2_layers`` may name
GRADCAM_LAYER = "conv5"  # the last convolution: the feature map Grad-CAM weighs


def conv1_padding(size: int, kernel: int = 11, stride: int = 4) -> tuple[tuple[int, int], tuple[int, int]]:
    """The fewest padding rows (and columns) that give conv1 an integral output, split (top, bottom)."""
    total = (kernel - size) % stride
    return ((total + 1) // 2, total // 2), ((total + 1) // 2, total // 2)


def pool_padding(size: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding for a 3x3 stride-2 max pool: none for an odd size, one row/column at the end for an even one."""
    extra = 1 - size % 2
    return (0, extra), (0, extra)


def feature_sizes(input_size: int) -> list[int]:
    """Spatial size after conv1, pool1, conv2, pool2, conv3-5 and pool5, in that order."""
    (top, bottom), _ = conv1_padding(input_size)
    s1 = (input_size + top + bottom - 11) // 4 + 1
    p1 = (s1 + 1 - s1 % 2 - 3) // 2 + 1
    p2 = (p1 + 1 - p1 % 2 - 3) // 2 + 1
    p5 = (p2 + 1 - p2 % 2 - 3) // 2 + 1
    return [s1, p1, p1, p2, p2, p5]


def alexnet(in_channels: int = 1, num_classes: int = 2, *, rng: np.random.Generator, width: float = 1.0,
            input_size: int = 224, dropout: float = 0.6, l2: float = 1e-4,
            l2_layers: tuple[str, ...] = ("conv3", "conv4", "conv5"), batch_norm: bool = False) -> Sequential:
    """AlexNet for ``input_size`` x ``input_size`` images; see the module docstring.

    ``dropout`` is the drop probability of the two dropout layers; ``l2`` the weight-decay factor of the layers
    named in ``l2_layers`` (the paper: the last three convolutions); ``rng`` draws the weights and, afterwards,
    the dropout masks. With ``batch_norm`` BN follows conv1 and conv2 (then the convolutions drop their bias,
    which BN's beta replaces).
    """
    if input_size < 36:
        raise ValueError(f"alexnet: input_size must be at least 36 (below that pool5 has nothing left to pool), "
                         f"got {input_size}")
    unknown = sorted(set(l2_layers) - set(L2_LAYERS))
    if unknown:
        raise ValueError(f"alexnet: l2_layers names unknown layers {unknown}; layers are {L2_LAYERS}")
    c1, c2, c3, c4, c5 = (scaled(c, width) for c in ALEXNET_CHANNELS)
    fc = scaled(ALEXNET_FC, width)
    s1, p1, _, p2, _, p5 = feature_sizes(input_size)

    def decay(name):
        return l2 if name in l2_layers else 0.0

    def conv(cin, cout, kernel, name, stride=1, padding=0, bn=False):
        layers = [Conv2d(cin, cout, kernel, stride, padding, bias=not bn, l2=decay(name), name=name, rng=rng)]
        if bn:
            layers.append(BatchNorm2d(cout, name=f"bn{name[-1]}"))
        return layers + [ReLU(name=f"relu{name[-1]}")]

    layers = [
        *conv(in_channels, c1, 11, "conv1", stride=4, padding=conv1_padding(input_size), bn=batch_norm),
        MaxPool2d(3, 2, pool_padding(s1), name="pool1"),
        *conv(c1, c2, 5, "conv2", padding=2, bn=batch_norm),
        MaxPool2d(3, 2, pool_padding(p1), name="pool2"),
        *conv(c2, c3, 3, "conv3", padding=1),
        *conv(c3, c4, 3, "conv4", padding=1),
        *conv(c4, c5, 3, "conv5", padding=1),
        MaxPool2d(3, 2, pool_padding(p2), name="pool5"),
        Flatten(name="flatten"),
        Linear(c5 * p5 * p5, fc, l2=decay("fc6"), name="fc6", rng=rng), ReLU(name="relu6"),
        Dropout(dropout, rng=rng, name="drop6"),
        Linear(fc, fc, l2=decay("fc7"), name="fc7", rng=rng), ReLU(name="relu7"),
        Dropout(dropout, rng=rng, name="drop7"),
        Linear(fc, num_classes, l2=decay("fc8"), name="fc8", rng=rng),
    ]
    model = Sequential(*layers)
    model.gradcam_layer = GRADCAM_LAYER
    return model


def alexnet_bn(in_channels: int = 1, num_classes: int = 2, *, rng: np.random.Generator, **kwargs) -> Sequential:
    """The paper's AlexNet-BN: ``alexnet`` with batch normalisation after conv1 and conv2, before their ReLU."""
    return alexnet(in_channels, num_classes, rng=rng, batch_norm=True, **kwargs)
