"""Stochastic gradient descent with (Nesterov) momentum, and learning-rate schedules.

The update is PyTorch's ``torch.optim.SGD`` with dampening 0. For each parameter p with gradient g (which
already contains the layer's L2 term ``l2 * p``)::

    v <- momentum * v + g            (v starts as g on the first step)
    step = g + momentum * v          with Nesterov, otherwise step = v
    p <- p - lr * step

Schedules change ``optimizer.lr`` once per epoch with ``scheduler.step()``.

Every update is done in place, a block of about 256 KB at a time (``_blocks``), so that the three passes over
each block - scale v, add g, subtract lr * v from p - run in cache and read every array from memory once.
Written as whole-array expressions (``p -= lr * v``) they would also allocate a temporary as large as the
parameter (150 MB for AlexNet's fc6) on every step.
"""
from __future__ import annotations

import math

import numpy as np

from minicnn.backend import get_array_module

_BLOCK = 1 << 16  # numbers per block (256 KB of float32)


def _blocks(*arrays):
    """Matching flat blocks of same-shape arrays: tuples of views; one tuple of the whole arrays on the GPU or
    when an array is not contiguous."""
    first = arrays[0]
    if get_array_module(first) is not np or not all(a.flags.c_contiguous for a in arrays):
        return [arrays]
    flat = [a.reshape(-1) for a in arrays]  # views
    return [tuple(f[start : start + _BLOCK] for f in flat) for start in range(0, first.size, _BLOCK)]


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
        for index, (layer, key) in enumerate(self.slots):
            if key not in layer.grads:
                raise ValueError(f"SGD: {layer!r} has no gradient for {key!r}; run backward() before step()")
            grad, param = layer.grads[key], layer.params[key]
            if not self.momentum:
                for p, g in _blocks(param, grad):
                    p -= self.lr * g
                continue
            v = self.velocity[index]
            first_step = v is None
            if first_step:
                v = self.velocity[index] = grad.copy()
            for p, g, v_b in _blocks(param, grad, v):
                if not first_step:
                    v_b *= self.momentum
                    v_b += g
                p -= self.lr * (g + self.momentum * v_b if self.nesterov else v_b)

    def state_dict(self) -> dict:
        """Momentum buffers as arrays (``velocity.<index>``) plus ``lr``, for checkpoints without pickle."""
        state = {f"velocity.{i}": v for i, v in enumerate(self.velocity) if v is not None}
        state["lr"] = self.lr
        return state

    def load_state_dict(self, state: dict) -> None:
        self.lr = float(state["lr"])
        for index, (layer, key) in enumerate(self.slots):
            v = state.get(f"velocity.{index}")
            if v is not None and tuple(v.shape) != tuple(layer.params[key].shape):
                raise ValueError(f"SGD state: velocity {index} of {layer!r}.{key} has shape {tuple(v.shape)}, "
                                 f"expected {tuple(layer.params[key].shape)}")
            self.velocity[index] = None if v is None else v.astype(layer.params[key].dtype).copy()


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
