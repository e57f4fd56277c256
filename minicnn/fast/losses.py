"""Softmax cross-entropy, fast: the plain tier's formulas (``minicnn/plain/losses.py``) without the one-hot
matrix; on the GPU the gradient is one kernel (``minicnn/kernels/losses.py``)."""
from __future__ import annotations

import numpy as np

from minicnn import kernels
from minicnn.backend import get_array_module


def cross_entropy_grad(probs, labels, sample_weights, total_weight):
    """dloss/dlogits = w_n * (p - onehot(t)) / total_weight."""
    if get_array_module(probs) is not np:
        return kernels.cross_entropy_grad(probs, labels, sample_weights, total_weight)
    grad = probs.copy()
    grad[np.arange(len(labels)), labels] -= 1
    return grad * (sample_weights / total_weight).astype(probs.dtype)[:, None]


def softmax_cross_entropy(logits, labels, class_weights=None):
    """(loss, dlogits) for (N, K) logits and (N,) integer labels; see ``minicnn.plain.softmax_cross_entropy``."""
    xp = get_array_module(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    if class_weights is None:
        sample_weights = xp.ones(len(labels), dtype=logits.dtype)
    else:
        sample_weights = xp.asarray(class_weights, dtype=logits.dtype)[labels]
    total_weight = sample_weights.sum()
    picked = log_probs[xp.arange(len(labels)), labels]
    loss = float(-(sample_weights * picked).sum() / total_weight)
    return loss, cross_entropy_grad(xp.exp(log_probs), labels, sample_weights, total_weight)
