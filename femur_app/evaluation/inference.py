"""A trained fold model applied to new image files: read, preprocess, standardise, predict, explain.

Each image goes through the preprocessing the model was trained with (``femur_app.data.preprocess``: the lesion
box, or the whole image when no box is given, then Otsu mask, morphology and resize to the checkpoint's input
size), is standardised with the training fold's statistics stored in the checkpoint, and is classified in
evaluation mode.
"""
from __future__ import annotations

import numpy as np

from femur_app.data.loaders import check_signal, read_image
from femur_app.data.normalise import Normalisation
from femur_app.data.preprocess import preprocess
from femur_app.errors import DataError
from femur_app.evaluation.gradcam import grad_cam, saliency
from minicnn.losses import softmax


def prepare_image(path, metadata: dict, roi=None, max_pixels: int | None = None) -> np.ndarray:
    """Read and preprocess one image file into a standardised (1, C, S, S) float32 batch; DataError for a file of
    more than ``max_pixels`` pixels (None: the default cap), with non-finite pixels, or a constant image."""
    pixels, _ = read_image(path, max_pixels)
    check_signal(pixels, path)
    try:
        roi_image = preprocess(pixels, box=roi, size=metadata["input_size"], **metadata.get("preprocess", {})).image
    except ValueError as error:
        raise DataError(f"{path}: {error}") from error
    return Normalisation.from_dict(metadata["normalisation"]).apply(roi_image[None, None]).astype(np.float32)


def predict_one(model, metadata: dict, x: np.ndarray) -> dict:
    """{"prob_malignant", "label", "threshold"} of one prepared image."""
    threshold = float(metadata["threshold"])
    prob = float(softmax(model.forward(x, train=False))[0, 1])
    names = metadata["class_names"]
    return {"prob_malignant": round(prob, 6), "label": names[1] if prob >= threshold else names[0],
            "threshold": threshold}


def explain(model, metadata: dict, x: np.ndarray, layer: str | None = None, target: int | None = None):
    """(P(malignant), explained class, Grad-CAM map, saliency map) of one prepared (1, C, S, S) image.

    ``layer`` defaults to the one the model names (``model.gradcam_layer``); ``target`` to the predicted class.
    """
    prob = float(softmax(model.forward(x, train=False))[0, 1])
    cls = (1 if prob >= float(metadata["threshold"]) else 0) if target is None else target
    return prob, cls, grad_cam(model, x, cls, layer)[0], saliency(model, x, cls)[0]
