"""Softmax cross-entropy, plain: the loss and its gradient with respect to the logits in one call.

For logits z (N, K), integer labels t (N,) and p = softmax(z)::

    p[n, k]  = exp(z[n, k] - max_j z[n, j]) / sum_j exp(z[n, j] - max_j z[n, j])   (shifted: cannot overflow)
    loss     = sum_n w_n * (-log p[n, t_n]) / sum_n w_n          w_n = class_weights[t_n], or 1: the plain mean
    dloss/dz = w_n * (p[n, k] - [k == t_n]) / sum_n w_n
"""
from __future__ import annotations

from minicnn.backend import get_array_module


def softmax_cross_entropy(logits, labels, class_weights=None):
    """(loss, dlogits) for (N, K) logits and (N,) integer labels; ``class_weights`` (K,) gives a weighted mean."""
    xp = get_array_module(logits)
    N = len(labels)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    w = xp.ones(N, dtype=logits.dtype) if class_weights is None else xp.asarray(class_weights, logits.dtype)[labels]
    loss = float(-(w * log_p[xp.arange(N), labels]).sum() / w.sum())
    onehot = xp.zeros_like(logits)
    onehot[xp.arange(N), labels] = 1
    dlogits = (xp.exp(log_p) - onehot) * (w / w.sum())[:, None]
    return loss, dlogits
