"""One training step, written once: forward, loss, backward, optimiser step.

    logits   = model.forward(x, train=True)                 every layer keeps what its backward needs
    loss, dz = softmax_cross_entropy(logits, labels)        the mean loss and dloss/dlogits (minicnn/losses.py)
    model.backward(dz)                                      fills every layer's grads, last layer first
    optimizer.step()                                        params -= lr * (grad + l2 * param), with momentum

A step whose loss is not finite (NaN or inf) stops after the loss: nothing is backpropagated and no weight
changes, so the caller still holds the weights of the last good step and decides what to do (femur_app's
training stops the fold). femur_app, the self-check, the benchmarks and the docs' figure scripts all train
through this function.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from minicnn.losses import softmax_cross_entropy


@dataclass(frozen=True)
class Step:
    """What one step gives back: the batch's mean loss (a float) and the logits (N, K) it was computed from."""

    loss: float
    logits: object  # a NumPy or CuPy array, on the model's device

    @property
    def finite(self) -> bool:
        return math.isfinite(self.loss)


def train_step(model, optimizer, x, labels, class_weights=None) -> Step:
    """Forward ``x`` in training mode, the softmax cross-entropy against ``labels``, backward and one optimiser
    step; with a non-finite loss the backward and the step are skipped (see the module docstring)."""
    logits = model.forward(x, train=True)
    loss, dlogits = softmax_cross_entropy(logits, labels, class_weights)
    step = Step(float(loss), logits)
    if step.finite:
        model.backward(dlogits)
        optimizer.step()
    return step
