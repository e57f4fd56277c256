"""Stochastic gradient descent with (Nesterov) momentum, and learning-rate schedules.

The update is PyTorch's ``torch.optim.SGD`` with dampening 0. For each parameter p with gradient g (which
already contains the layer's L2 term ``l2 * p``)::

    v <- momentum * v + g            (v starts as g on the first step)
    step = g + momentum * v          with Nesterov, otherwise step = v
    p <- p - lr * step

Schedules change ``optimizer.lr`` once per epoch with ``scheduler.step()``.

The update of one parameter is the selected tier's ``sgd_step`` (``minicnn/plain/optim.py`` is the one to read;
``minicnn/fast/optim.py`` does it in place, in cache-sized blocks). L2 is the layers' business: each adds its own
``l2 * W`` to its weight gradient, so the optimiser leaves ``sgd_step``'s ``l2`` (PyTorch's ``weight_decay``, one
decay for every parameter) at its default, 0.
"""
from __future__ import annotations

import math

import numpy as np

from minicnn import tiers
from minicnn.backend import get_array_module, to_cpu


class SGD:
    """Plain, momentum or Nesterov SGD over every parameter of ``model`` (walked as (layer, key) pairs)."""

    def __init__(self, model, lr: float, momentum: float = 0.0, nesterov: bool = False):
        if lr <= 0:
            raise ValueError(f"SGD: lr must be positive, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must lie in [0, 1), got {momentum}")
        if nesterov and momentum == 0.0:
            raise ValueError("SGD: Nesterov momentum needs momentum > 0")
        self.slots = model.parameters()
        self.lr, self.momentum, self.nesterov = float(lr), float(momentum), bool(nesterov)
        self.velocity = [None] * len(self.slots)

    def step(self):
        """Apply one update in place to every parameter, using the gradients of the last backward pass."""
        sgd_step = tiers.ops().sgd_step
        for index, (layer, key) in enumerate(self.slots):
            if key not in layer.grads:
                raise ValueError(f"SGD: {layer!r} has no gradient for {key!r}; run backward() before step()")
            layer.params[key], self.velocity[index] = sgd_step(
                layer.params[key], layer.grads[key], self.velocity[index], self.lr, self.momentum, self.nesterov)

    def state_dict(self) -> dict:
        """Momentum buffers as arrays (``velocity.<index>``) plus ``lr``, for checkpoints without pickle."""
        state = {f"velocity.{i}": v for i, v in enumerate(self.velocity) if v is not None}
        state["lr"] = self.lr
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore ``lr`` and the momentum buffers, each converted to its parameter's dtype and device."""
        self.lr = float(state["lr"])
        for index, (layer, key) in enumerate(self.slots):
            v, param = state.get(f"velocity.{index}"), layer.params[key]
            if v is not None and tuple(v.shape) != tuple(param.shape):
                raise ValueError(f"SGD state: velocity {index} of {layer!r}.{key} has shape {tuple(v.shape)}, "
                                 f"expected {tuple(param.shape)}")
            if v is not None:
                xp = get_array_module(param)
                v = xp.array(to_cpu(v) if xp is np else xp.asarray(v), dtype=param.dtype)  # a copy, on param's device
            self.velocity[index] = v


class StepLR:
    """lr = base_lr * gamma ** (epoch // step_size) (PyTorch's StepLR)."""

    def __init__(self, optimizer: SGD, step_size: int, gamma: float = 0.1):
        self.optimizer, self.step_size, self.gamma = optimizer, int(step_size), float(gamma)
        self.base_lr, self.epoch = optimizer.lr, 0

    def step(self):
        self.epoch += 1
        self.optimizer.lr = self.base_lr * self.gamma ** (self.epoch // self.step_size)


class CosineLR:
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2 (PyTorch's CosineAnnealingLR)."""

    def __init__(self, optimizer: SGD, t_max: int, eta_min: float = 0.0):
        self.optimizer, self.t_max, self.eta_min = optimizer, int(t_max), float(eta_min)
        self.base_lr, self.epoch = optimizer.lr, 0

    def step(self):
        self.epoch += 1
        cos = math.cos(math.pi * self.epoch / self.t_max)
        self.optimizer.lr = self.eta_min + (self.base_lr - self.eta_min) * (1 + cos) / 2
