"""minicnn's layers: each holds its parameters and calls the selected tier's hand-written forward and backward
pass (``minicnn.plain`` or ``minicnn.fast``; see ``base.Layer`` for the contract)."""
from minicnn.layers.activations import ReLU
from minicnn.layers.base import Layer
from minicnn.layers.batchnorm import BatchNorm1d, BatchNorm2d
from minicnn.layers.branch import Concat
from minicnn.layers.containers import Flatten, Sequential
from minicnn.layers.conv import Conv2d
from minicnn.layers.dropout import Dropout
from minicnn.layers.linear import Linear
from minicnn.layers.pool import AvgPool2d, MaxPool2d

__all__ = ["AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Concat", "Conv2d", "Dropout", "Flatten", "Layer", "Linear",
           "MaxPool2d", "ReLU", "Sequential"]
