"""The Grad-CAM gallery of a run: true/false positives/negatives and where the network looked.

Every held-out case is explained by the model of the fold that held it out (a ``FoldModel``) at the layer that
model names (``model.gradcam_layer``); for each outcome (TP, FP, FN, TN at the run's threshold) up to
``per_outcome`` cases, the most confident first, are chosen for the figure (drawn by
``femur_app.reporting.plots.plot_gallery``: the preprocessed ROI with its heat map). Where the true lesion
mask is known (the synthetic set, or a ``mask_path`` column), the prepared data carry it in the ROI's
coordinates, and the report gives the share of the heat map that falls inside it - for every held-out case, not
only the drawn ones - beside its chance baseline for the same cases: the share a uniform heat map would put
inside the lesion, which is the lesion's share of the ROI's pixels. A Grad-CAM share at or below that baseline
says the network's attention is no more on the lesion than a map that looks everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femur_app.data.dataset import Prepared
from femur_app.evaluation.gradcam import fraction_inside, grad_cam
from femur_app.evaluation.predictions import Predictions
from femur_app.models.fold_model import FoldModel

OUTCOMES = ("TP", "FP", "FN", "TN")


@dataclass(frozen=True)
class GalleryCase:
    """One drawn case: its preprocessed ROI, the heat map of the predicted class, the true lesion mask (None where
    unknown) and the heat map's share inside it."""

    case_id: str
    outcome: str  # TP, FP, FN or TN
    prob: float
    image: np.ndarray
    heat: np.ndarray
    mask: np.ndarray | None
    inside: float | None


@dataclass(frozen=True)
class InsideLesion:
    """Per outcome, over every held-out case with a mask: the mean Grad-CAM share inside the lesion, a uniform
    map's (the chance baseline: the lesion's share of the ROI), and the share of cases where Grad-CAM beats it
    (None without cases)."""

    cases: int
    mean: float | None
    uniform: float | None
    above_uniform: float | None


@dataclass(frozen=True)
class Gallery:
    chosen: list[GalleryCase]  # up to ``per_outcome`` of each outcome, the most confident first
    inside: dict[str, InsideLesion]  # outcome -> shares


def outcome(label: int, pred: int) -> str:
    return {(1, 1): "TP", (0, 1): "FP", (1, 0): "FN", (0, 0): "TN"}[(label, pred)]


def build(models: dict[int, FoldModel], data: Prepared, predictions: Predictions, per_outcome: int = 2) -> Gallery:
    """The heat maps of every held-out case, the drawn ones chosen and the shares inside the lesion summarised.

    ``predictions`` are in ``data``'s case order; ``models``: the fold models by fold.
    """
    preds = predictions.preds
    entries, inside = [], {o: [] for o in OUTCOMES}
    for fold in np.unique(predictions.folds):
        model = models[int(fold)].model
        idx = np.flatnonzero(predictions.folds == fold)
        x = models[int(fold)].standardise(data.X[idx])
        maps = np.concatenate([grad_cam(model, x[s:s + 32], preds[idx[s:s + 32]], model.gradcam_layer)
                               for s in range(0, len(x), 32)])
        for i, heat in zip(idx, maps):
            kind = outcome(int(predictions.labels[i]), int(preds[i]))
            mask = data.masks[i]
            share = None if mask is None or not mask.any() else fraction_inside(heat, mask)
            if share is not None:
                inside[kind].append((share, float(mask.mean())))  # a uniform map's share: the lesion's area share
            entries.append(GalleryCase(predictions.case_ids[i], kind, float(predictions.probs[i]), data.X[i, 0],
                                       heat, mask, share))
    chosen = []
    for kind in OUTCOMES:
        group = sorted((e for e in entries if e.outcome == kind), key=lambda e: -abs(e.prob - 0.5))
        chosen += group[:per_outcome]
    return Gallery(chosen, summarize(inside))


def summarize(inside: dict) -> dict[str, InsideLesion]:
    """{outcome: InsideLesion} from each outcome's (Grad-CAM share, uniform-map share) pairs."""
    summary = {}
    for kind, pairs in inside.items():
        shares = np.array(pairs, dtype=float).reshape(-1, 2)
        summary[kind] = InsideLesion(len(shares), float(shares[:, 0].mean()) if len(shares) else None,
                                     float(shares[:, 1].mean()) if len(shares) else None,
                                     float((shares[:, 0] > shares[:, 1]).mean()) if len(shares) else None)
    return summary
