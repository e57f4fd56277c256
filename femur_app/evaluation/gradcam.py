"""Grad-CAM and input-gradient saliency, computed with minicnn's own backward pass.

Grad-CAM (Selvaraju et al. 2017) asks which places of a convolutional feature map A (K channels, h x w) raised
the logit y_c of the explained class c. Every channel k gets a weight, the spatial mean of its gradient::

    alpha_k = 1/(h w) * sum_{i, j} dy_c / dA_k[i, j]
    cam     = ReLU( sum_k alpha_k A_k )            (h x w, then upsampled bilinearly to the input size)

The gradient dy_c/dA is exactly what backward() returns when it is started from a one-hot ``dlogits``
and stopped at the layer after A. Saliency is the same idea at the input: |dy_c / dx|.
Both run in evaluation mode (running batch-norm statistics, no dropout), so the explanation belongs to the
model that makes the predictions.
"""
from __future__ import annotations

import numpy as np
from skimage.transform import resize


def _split_at(model, layer_name):
    """Index of the top-level layer called ``layer_name`` in a Sequential model."""
    for index, layer in enumerate(model.layers):
        if layer.name == layer_name:
            return index
    names = [layer.name for layer in model.layers if layer.name]
    raise KeyError(f"Grad-CAM: the model has no top-level layer named {layer_name!r}; named layers: {names}")


def _one_hot_logit_gradient(logits, class_index):
    dlogits = np.zeros_like(logits)
    dlogits[np.arange(len(logits)), class_index] = 1.0
    return dlogits


def grad_cam(model, x, class_index, layer_name=None):
    """Grad-CAM heat maps for a batch x (N, C, H, W) -> (N, H, W) in [0, 1] (each map scaled by its maximum).

    ``class_index`` is an int or an (N,) array: the class whose logit is explained for each image.
    ``layer_name``: the top-level layer whose output is A; by default the one the model names
    (``model.gradcam_layer``, set by every builder in ``femur_app.models``).
    """
    split = _split_at(model, layer_name or model.gradcam_layer)
    h = x
    for layer in model.layers[: split + 1]:
        h = layer.forward(h, train=False)
    activations = h  # A: (N, K, h, w)
    for layer in model.layers[split + 1 :]:
        h = layer.forward(h, train=False)
    class_index = np.broadcast_to(np.asarray(class_index), (len(x),))
    grad = _one_hot_logit_gradient(h, class_index)
    for layer in reversed(model.layers[split + 1 :]):
        grad = layer.backward(grad)  # ends as dy_c / dA
    alpha = grad.mean(axis=(2, 3), keepdims=True)  # (N, K, 1, 1)
    cam = np.maximum((alpha * activations).sum(axis=1), 0.0)  # (N, h, w)
    maps = np.stack([resize(c, x.shape[2:], order=1, mode="edge", anti_aliasing=False) for c in cam])
    peak = maps.reshape(len(maps), -1).max(axis=1)
    return (maps / np.where(peak > 0, peak, 1.0)[:, None, None]).astype(np.float32)


def saliency(model, x, class_index):
    """|d logit_c / d x| summed over input channels -> (N, H, W), each map scaled to a maximum of 1."""
    logits = model.forward(x, train=False)
    class_index = np.broadcast_to(np.asarray(class_index), (len(x),))
    dx = np.abs(model.backward(_one_hot_logit_gradient(logits, class_index))).sum(axis=1)
    peak = dx.reshape(len(dx), -1).max(axis=1)
    return (dx / np.where(peak > 0, peak, 1.0)[:, None, None]).astype(np.float32)


def fraction_inside(heat_map, mask):
    """Share of the heat map's total mass that falls inside a boolean mask of the same shape."""
    total = float(heat_map.sum())
    return float(heat_map[mask].sum()) / total if total > 0 else 0.0
