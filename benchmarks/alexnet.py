"""The network every benchmark measures: the paper's AlexNet-BN exactly as femur_app trains it
(``femur_app.models.alexnet_bn``, the one definition), so the benchmark times the network that trains.

Layers and shapes at the full size (batch 32, one 224x224 channel)::

    conv1  11x11 s4 pad (2,1)  1 -> 96     55x55     bn1, relu1, pool1 3x3 s2 -> 27x27   (no conv bias: BN's beta)
    conv2  5x5 pad 2          96 -> 256    27x27     bn2, relu2, pool2 3x3 s2 -> 13x13   (no conv bias: BN's beta)
    conv3  3x3 pad 1         256 -> 384    13x13     relu3          (conv3-5 carry L2 = 1e-4)
    conv4  3x3 pad 1         384 -> 384    13x13     relu4
    conv5  3x3 pad 1         384 -> 256    13x13     relu5, pool5 3x3 s2 -> 6x6, flatten -> 9216
    fc6    9216 -> 4096  relu6  drop6 (p_drop 0.6)
    fc7    4096 -> 4096  relu7  drop7 (p_drop 0.6)
    fc8    4096 -> 2

``Size`` scales the batch, the image and every width, so the same code runs at ``FULL`` for measurements and
at ``TINY`` in the test that keeps the benchmarks from rotting. The PyTorch and numpy-ml twins are built from a
minicnn layer and copy its weights, so all three frameworks compute on the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
import warnings

import numpy as np

from femur_app.models import alexnet_bn
from femur_app.models.width import scaled
from minicnn.layers import Sequential
from minicnn.optim import SGD


@dataclass(frozen=True)
class Size:
    batch: int
    image: int  # pixels per side, at least 36 (alexnet_bn pads conv1 and the pools to integral sizes)
    scale: float = 1.0  # multiplies every channel count and the 4096 hidden units
    channels: int = 1

    def width(self, n: int) -> int:
        return scaled(n, self.scale)


FULL = Size(batch=32, image=224)
TINY = Size(batch=2, image=64, scale=0.125)


def build_minicnn(size: Size, seed: int = 0) -> Sequential:
    """AlexNet-BN in minicnn at ``size`` (femur_app's builder, the paper's dropout 0.6 and L2 1e-4 on conv3-conv5);
    the input-image gradient is switched off as in training."""
    model = alexnet_bn(size.channels, 2, rng=np.random.default_rng(seed), width=size.scale, input_size=size.image,
                       dropout=0.6, l2=1e-4, l2_layers=("conv3", "conv4", "conv5"))
    model.needs_input_grad = False  # nobody needs dL/d(image): conv1 skips its col2im
    return model


def batch(size: Size, seed: int = 0):
    """A float32 input batch (N, C, H, W) and integer labels (N,)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((size.batch, size.channels, size.image, size.image), dtype=np.float32)
    return x, rng.integers(0, 2, size.batch)


def minicnn_optimizer(model):
    """The SGD every benchmark trains minicnn with (a step is ``minicnn.train_step(model, optimizer, x, labels)``)."""
    return SGD(model, lr=0.01, momentum=0.9)


@dataclass
class LayerCase:
    """One layer of the network with the input it sees and an upstream gradient of its output's shape."""

    name: str
    layer: object
    x: np.ndarray
    dy: np.ndarray


@lru_cache(maxsize=1)
def layer_cases(size: Size) -> dict[str, LayerCase]:
    """Walk one batch through the network and keep every layer's input: {name: LayerCase}."""
    model = build_minicnn(size)
    x, _ = batch(size)
    rng = np.random.default_rng(1)
    cases = {}
    for layer in model.layers:
        y = layer.forward(x, train=True)
        dy = rng.standard_normal(y.shape, dtype=np.float32)
        cases[layer.name] = LayerCase(layer.name, layer, x, dy)
        x = y
    return cases


LAYER_NAMES = [  # in network order; flatten is a reshape and left out
    "conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2", "pool2", "conv3", "relu3", "conv4", "relu4",
    "conv5", "relu5", "pool5", "fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8"]


def layer_calls(case: LayerCase, framework: str):
    """(forward, backward) callables running ``case``'s layer in ``framework`` on the case's input and upstream
    gradient; None where the framework has no such layer. backward is None when there is nothing to
    differentiate (a PyTorch layer without parameters whose input is the image).

    The PyTorch forward builds the autograd graph, as in training; its backward is ``torch.autograd.grad``
    (fresh gradients each call, nothing accumulated). The first convolution's input needs no gradient in
    any framework but numpy-ml, which always computes it.
    """
    layer, x, dy = case.layer, case.x, case.dy
    if framework == "minicnn":
        layer.forward(x)  # leaves the cache that backward reads
        return (lambda: layer.forward(x)), (lambda: layer.backward(dy))
    if framework == "torch":
        import torch

        module = torch_layer(layer).train()
        tx = torch.from_numpy(x).requires_grad_(case.name != "conv1")
        tdy = torch.from_numpy(dy)
        ty = module(tx)
        inputs = list(module.parameters()) + ([tx] if tx.requires_grad else [])
        backward = (lambda: torch.autograd.grad(ty, inputs, tdy, retain_graph=True)) if inputs else None
        return (lambda: module(tx)), backward
    if framework == "numpy-ml":
        x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x
        dy_nhwc = np.ascontiguousarray(dy.transpose(0, 2, 3, 1)) if dy.ndim == 4 else dy
        twin = numpy_ml_layer(layer, x_nhwc)
        if twin is None:
            return None

        def forward():
            # numpy-ml's train-mode forward appends its input to a list that backward walks: empty it first,
            # so that backward always sees exactly one input
            twin.X = []
            for key in twin.derived_variables:
                twin.derived_variables[key] = []
            return twin.forward(x_nhwc)

        forward()
        return forward, (lambda: twin.backward(dy_nhwc))
    raise ValueError(f"unknown framework {framework!r}")


# --- PyTorch twins ---------------------------------------------------------------------------------------------
def torch_layer(layer):
    """The torch.nn module computing what the minicnn ``layer`` computes, with the same weights."""
    import torch
    from torch import nn

    kind = type(layer).__name__
    if kind == "Conv2d":
        (top, bottom), (left, right) = layer.padding
        conv = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                         bias="bias" in layer.params)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(layer.params["weight"]))
            if conv.bias is not None:
                conv.bias.copy_(torch.from_numpy(layer.params["bias"]))
        if top == bottom and left == right:
            conv.padding = (top, left)
            return conv
        return nn.Sequential(nn.ZeroPad2d((left, right, top, bottom)), conv)
    if kind == "BatchNorm2d":
        return nn.BatchNorm2d(layer.num_features, eps=layer.eps, momentum=layer.momentum)
    if kind == "ReLU":
        return nn.ReLU()
    if kind == "MaxPool2d":
        return nn.MaxPool2d(layer.kernel_size, layer.stride)
    if kind == "Flatten":
        return nn.Flatten()
    if kind == "Dropout":
        return nn.Dropout(layer.p_drop)
    if kind == "Linear":
        fc = nn.Linear(layer.in_features, layer.out_features)
        with torch.no_grad():
            fc.weight.copy_(torch.from_numpy(layer.params["weight"]))
            fc.bias.copy_(torch.from_numpy(layer.params["bias"]))
        return fc
    raise TypeError(f"no PyTorch twin for {kind}")


def build_torch(model):
    """The PyTorch twin of a minicnn Sequential, and SGD with the same momentum and per-layer L2."""
    import torch
    from torch import nn

    net = nn.Sequential(*[torch_layer(layer) for layer in model.layers]).train()
    decayed, plain = [], []
    for layer, twin in zip(model.layers, net):
        l2 = getattr(layer, "l2", 0.0)
        for name, p in twin.named_parameters():
            (decayed if l2 and name.endswith("weight") else plain).append(p)
    l2 = max((getattr(layer, "l2", 0.0) for layer in model.layers), default=0.0)
    optimizer = torch.optim.SGD([{"params": plain}, {"params": decayed, "weight_decay": l2}], lr=0.01, momentum=0.9)
    return net, optimizer


def torch_step(net, optimizer, x, labels):
    import torch.nn.functional as F

    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(net(x), labels)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


# --- numpy-ml twins --------------------------------------------------------------------------------------------
def import_numpy_ml():
    """numpy-ml's layers module, or None if it is not installed.

    numpy-ml 0.1.2 still does ``from collections import Hashable`` (removed in Python 3.10); the one-line alias
    below lets it import unchanged. Its layers take NHWC arrays.
    """
    import collections
    import collections.abc

    if not hasattr(collections, "Hashable"):
        collections.Hashable = collections.abc.Hashable
    try:
        with warnings.catch_warnings():  # numpy-ml warns that the OpenAI gym is missing
            warnings.simplefilter("ignore")
            from numpy_ml.neural_nets import layers
    except ImportError:
        return None
    return layers


def numpy_ml_layer(layer, x_nhwc):
    """numpy-ml's layer for a minicnn Conv2d, BatchNorm2d or Linear, initialised on ``x_nhwc`` with our weights
    (float32); None for layers numpy-ml has no fast equivalent of (its pooling is a Python loop per output)."""
    nml = import_numpy_ml()
    kind = type(layer).__name__
    if kind == "Conv2d":
        (top, bottom), (left, right) = layer.padding
        twin = nml.Conv2D(layer.out_channels, layer.kernel_size, pad=(top, bottom, left, right),
                          stride=layer.stride[0])
        twin.forward(x_nhwc[:1], retain_derived=False)  # initialises the parameters
        twin.parameters["W"] = np.ascontiguousarray(layer.params["weight"].transpose(2, 3, 1, 0))
        bias = layer.params.get("bias", np.zeros(layer.out_channels, np.float32))  # none before batch norm
        twin.parameters["b"] = bias.reshape(1, 1, 1, -1).copy()
    elif kind == "BatchNorm2d":
        twin = nml.BatchNorm2D(momentum=1 - layer.momentum, epsilon=layer.eps)
        twin.forward(x_nhwc[:2], retain_derived=False)
        for key in ("scaler", "running_var"):
            twin.parameters[key] = np.ones(layer.num_features, np.float32)
        for key in ("intercept", "running_mean"):
            twin.parameters[key] = np.zeros(layer.num_features, np.float32)
    elif kind == "Linear":
        twin = nml.FullyConnected(layer.out_features)
        twin.forward(x_nhwc[:1], retain_derived=False)
        twin.parameters["W"] = np.ascontiguousarray(layer.params["weight"].T)
        twin.parameters["b"] = layer.params["bias"].reshape(1, -1).copy()
    else:
        return None
    twin.flush_gradients()
    return twin
