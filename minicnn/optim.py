"""Stochastic gradient descent with (Nesterov) momentum, and learning-rate schedules.

The update is PyTorch's ``torch.optim.SGD`` with dampening 0. For each parameter p with gradient g (which
already contains the layer's L2 term ``l2 * p``)::

    v <- momentum * v + g            (v starts as g on the first step)
    step = g + momentum * v          with Nesterov, otherwise step = v
    p <- p - lr * step

Schedules change ``optimizer.lr`` once per epoch with ``scheduler.step()``.
"""
from __future__ import annotations

import math


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
            grad = layer.grads[key]
            if self.momentum:
                v = self.velocity[index]
                if v is None:
                    v = self.velocity[index] = grad.copy()
                else:
                    v *= self.momentum
                    v += grad
                grad = grad + self.momentum * v if self.nesterov else v
            layer.params[key] -= self.lr * grad

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
