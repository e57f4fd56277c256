"""Softmax cross-entropy, returning the loss and its gradient with respect to the logits in one call.

For logits z (N, K) and integer labels t (N,), with p = softmax(z)::

    p[n, k]  = exp(z[n, k] - max_k z[n]) / sum_j exp(z[n, j] - max_k z[n])   (shifting by the max cannot overflow)
    loss     = sum_n w_n * (-log p[n, t_n]) / sum_n w_n                        (w_n = class_weights[t_n], or 1)
    dloss/dz = w_n * (p[n, k] - [k == t_n]) / sum_n w_n

With no class weights this is the plain mean over the batch; with them it is PyTorch's weighted mean. The
computation is the selected tier's (``minicnn/plain/losses.py`` is the one to read); this function checks the
arguments first.
"""
from __future__ import annotations

from minicnn import tiers
from minicnn.backend import get_array_module


def softmax(logits):
    """Row-wise softmax of (N, K) logits, shifted by the row maximum for stability."""
    xp = get_array_module(logits)
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = xp.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits, labels, class_weights=None):
    """Mean (or class-weighted mean) cross-entropy of (N, K) logits against (N,) integer labels -> (loss, dlogits)."""
    xp = get_array_module(logits)
    if logits.ndim != 2:
        raise ValueError(f"softmax_cross_entropy: logits must be (N, K), got shape {tuple(logits.shape)}")
    labels = xp.asarray(labels)
    if labels.shape != (logits.shape[0],) or labels.dtype.kind not in "iu":
        raise ValueError(f"softmax_cross_entropy: labels must be {logits.shape[0]} integers, "
                         f"got shape {tuple(labels.shape)} dtype {labels.dtype}")
    K = logits.shape[1]
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= K):
        raise ValueError(f"softmax_cross_entropy: labels must lie in [0, {K}), got min {int(labels.min())} max {int(labels.max())}")
    if class_weights is not None:
        class_weights = xp.asarray(class_weights, dtype=logits.dtype)
        if class_weights.shape != (K,):
            raise ValueError(f"softmax_cross_entropy: class_weights must have {K} entries, got shape {tuple(class_weights.shape)}")
    return tiers.ops().softmax_cross_entropy(logits, labels, class_weights)


def l2_penalty(model) -> float:
    """sum over layers with an ``l2`` factor of 0.5 * l2 * ||W||^2 - the part of the loss their gradients include."""
    total = 0.0
    for _, layer in model.named_layers():
        l2 = getattr(layer, "l2", 0.0)
        if l2:
            w = layer.params["weight"]
            total += 0.5 * l2 * float((w * w).sum())
    return total
