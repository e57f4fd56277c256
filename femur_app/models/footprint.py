"""What a network will allocate, counted from its architecture's sizes before a single array exists.

A configuration or a checkpoint's metadata name a network (``model.width``, ``data.input_size``) whose arrays
can be far larger than the machine: AlexNet-BN at width 4 and 1024 pixels has 17 billion weights (68 GB of
float32), and building it only to find out would take that memory first. So the sizes are counted here, in Python
integers (no overflow, no allocation), from the same size rules the builders use (``alexnet.feature_sizes``,
GoogLeNet's halvings): the parameters (weights, biases, batch-norm gamma and beta), the batch-norm buffers, and
per case the numbers a training step keeps - every layer's output and every convolution's im2col columns.
``tests/femur_app/models/test_footprint.py`` checks the counts against built networks, and the byte estimates
against what a training step and a prediction really allocate (``tracemalloc``).

``training_bytes(batch)`` is float32 bytes of four copies of the parameters (weights, gradients, momentum, and the
float64 draws of the starting weights or the last good weights a diverging fold falls back to), the buffers, and
per case three times the layer outputs (the forward caches, the gradients flowing back, and the temporaries of
the fast tier) plus the im2col columns. ``inference_bytes(batch)`` is three copies of the parameters (a
checkpoint's arrays as read, the network built of zeros, the copies loaded into it), the buffers and one forward
pass's outputs and columns. Measured by that test, both estimates are 1.0 to 2.2 times the real peak.
"""
from __future__ import annotations

from dataclasses import dataclass

from femur_app.models.alexnet import ALEXNET_CHANNELS, ALEXNET_FC, feature_sizes
from femur_app.models.googlenet import INCEPTION_WIDTHS
from femur_app.models.width import scaled

FLOAT_BYTES = 4  # every array of a network is float32


@dataclass(frozen=True)
class Footprint:
    """Counts of float32 numbers: ``parameters`` and ``buffers`` of the network, and per case the layer
    ``outputs`` and im2col ``columns`` of one forward pass."""

    parameters: int
    buffers: int
    outputs: int
    columns: int

    def training_bytes(self, batch: int) -> int:
        """Bytes of one fold's training step on ``batch`` cases (the module docstring)."""
        return FLOAT_BYTES * (4 * self.parameters + self.buffers + batch * (3 * self.outputs + self.columns))

    def inference_bytes(self, batch: int = 1) -> int:
        """Bytes of the network and one forward pass on ``batch`` cases."""
        return FLOAT_BYTES * (3 * self.parameters + self.buffers + batch * (self.outputs + self.columns))


def footprint(name: str, *, width: float, input_size: int, in_channels: int = 1, num_classes: int = 2) -> Footprint:
    """The footprint of the registered network ``name`` (``alexnet_bn``, ``alexnet`` or ``googlenet``); the
    sizes must be ones the builder accepts (``femur_app.models.registry.input_size_problem``)."""
    if name in ("alexnet", "alexnet_bn"):
        return _alexnet(width, input_size, in_channels, num_classes, batch_norm=name == "alexnet_bn")
    if name == "googlenet":
        return _googlenet(width, input_size, in_channels, num_classes)
    raise KeyError(f"no footprint for the model {name!r}")


class _Count:
    """Running totals while walking a network's layers."""

    def __init__(self):
        self.parameters = self.buffers = self.outputs = self.columns = 0

    def conv(self, cin: int, cout: int, kernel: int, out_size: int, bias: bool = True) -> None:
        self.parameters += cin * cout * kernel * kernel + (cout if bias else 0)
        self.columns += cin * kernel * kernel * out_size * out_size
        self.outputs += cout * out_size * out_size

    def batch_norm(self, channels: int, size: int) -> None:
        self.parameters += 2 * channels
        self.buffers += 2 * channels
        self.outputs += channels * size * size

    def elementwise(self, numbers: int) -> None:
        """A ReLU, pool or dropout output (a pool's output is passed as its size)."""
        self.outputs += numbers

    def linear(self, fan_in: int, fan_out: int) -> None:
        self.parameters += fan_in * fan_out + fan_out
        self.outputs += fan_out

    def done(self) -> Footprint:
        return Footprint(self.parameters, self.buffers, self.outputs, self.columns)


def _alexnet(width, input_size, in_channels, num_classes, batch_norm) -> Footprint:
    c1, c2, c3, c4, c5 = (scaled(c, width) for c in ALEXNET_CHANNELS)
    fc = scaled(ALEXNET_FC, width)
    s1, p1, _, p2, _, p5 = feature_sizes(input_size)
    count = _Count()
    for cin, cout, kernel, size, bn in ((in_channels, c1, 11, s1, batch_norm), (c1, c2, 5, p1, batch_norm),
                                        (c2, c3, 3, p2, False), (c3, c4, 3, p2, False), (c4, c5, 3, p2, False)):
        count.conv(cin, cout, kernel, size, bias=not bn)
        if bn:
            count.batch_norm(cout, size)
        count.elementwise(cout * size * size)  # ReLU
    for channels, size in ((c1, p1), (c2, p2), (c5, p5)):  # pool1, pool2, pool5
        count.elementwise(channels * size * size)
    count.linear(c5 * p5 * p5, fc)
    count.elementwise(2 * fc)  # ReLU, dropout
    count.linear(fc, fc)
    count.elementwise(2 * fc)
    count.linear(fc, num_classes)
    return count.done()


def _googlenet(width, input_size, in_channels, num_classes) -> Footprint:
    count = _Count()

    def conv_relu(cin, cout, kernel, size):
        count.conv(cin, cout, kernel, size)
        count.elementwise(cout * size * size)

    c64, c192 = scaled(64, width), scaled(192, width)
    size = input_size // 2
    conv_relu(in_channels, c64, 7, size)
    size //= 2
    count.elementwise(c64 * size * size)  # pool
    conv_relu(c64, c64, 1, size)
    conv_relu(c64, c192, 3, size)
    size //= 2
    count.elementwise(c192 * size * size)
    channels = c192
    for stage in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
        w1, r3, w3, r5, w5, pp = (scaled(c, width) for c in INCEPTION_WIDTHS[stage])
        conv_relu(channels, w1, 1, size)
        conv_relu(channels, r3, 1, size)
        conv_relu(r3, w3, 3, size)
        conv_relu(channels, r5, 1, size)
        conv_relu(r5, w5, 5, size)
        count.elementwise(channels * size * size)  # the pool branch's max pool
        conv_relu(channels, pp, 1, size)
        channels = w1 + w3 + w5 + pp
        count.elementwise(channels * size * size)  # the concatenation
        if stage in ("3b", "4e"):
            size //= 2
            count.elementwise(channels * size * size)
    count.elementwise(2 * channels)  # global average, dropout
    count.linear(channels, num_classes)
    return count.done()
