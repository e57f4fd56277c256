"""A trained fold model applied to new image files: read, preprocess, standardise, predict, explain.

Each image goes through the preprocessing the model was trained with (``femur_app.data.preprocess``: the lesion
box, or the whole image when no box is given, then Otsu mask, morphology and resize to the checkpoint's input
size), is standardised with the training fold's statistics stored in the checkpoint, and is classified in
evaluation mode. The model comes as a ``FoldModel`` (``femur_app.models.checkpoint.load``).
"""
from __future__ import annotations

import numpy as np

from femur_app.data.dataset import LABEL_NAMES
from femur_app.data.loaders import check_signal, read_image
from femur_app.data.preprocess import preprocess
from femur_app.errors import DataError
from femur_app.evaluation.gradcam import grad_cam, saliency
from femur_app.models.fold_model import FoldModel
from minicnn.losses import softmax


def prepare_image(path, model: FoldModel, roi=None, max_pixels: int | None = None) -> np.ndarray:
    """Read and preprocess one image file into a standardised (1, C, S, S) float32 batch for ``model``; DataError
    for a file of more than ``max_pixels`` pixels (None: the default cap), with non-finite pixels, or a constant
    image."""
    pixels, _ = read_image(path, max_pixels)
    check_signal(pixels, path)
    try:
        roi_image = preprocess(pixels, box=roi, size=model.input_size, **model.preprocess).image
    except ValueError as error:
        raise DataError(f"{path}: {error}") from error
    return model.standardise(roi_image[None, None])


def predict_one(model: FoldModel, x: np.ndarray) -> dict:
    """{"prob_malignant", "label", "threshold"} of one prepared image."""
    prob = float(softmax(model.model.forward(x, train=False))[0, 1])
    return {"prob_malignant": round(prob, 6), "label": LABEL_NAMES[int(prob >= model.threshold)],
            "threshold": model.threshold}


def explain(model: FoldModel, x: np.ndarray, layer: str | None = None, target: int | None = None):
    """(P(malignant), explained class, Grad-CAM map, saliency map) of one prepared (1, C, S, S) image.

    ``layer`` defaults to the one the network names (``gradcam_layer``); ``target`` to the predicted class.
    """
    prob = float(softmax(model.model.forward(x, train=False))[0, 1])
    cls = int(prob >= model.threshold) if target is None else target
    return prob, cls, grad_cam(model.model, x, cls, layer)[0], saliency(model.model, x, cls)[0]
