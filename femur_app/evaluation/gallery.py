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

That baseline counts the ROI's zero background, where no network can look; three stricter ones, each on every
case with a mask (``GradcamBaselines``):

    tissue        a uniform map over the ROI's non-zero pixels: the lesion's share of the tissue the network sees
    random        the same architecture with fresh random weights (built from the seed, ``SeedSequence(seed,
                  spawn_key=(fold, 3))``, standardised by the fold's statistics): what the architecture and the
                  image alone put on the lesion
    null          the network trained on shuffled labels (``femur_app.training.null_model``; absent when none was
                  trained): what learning the images without their class puts there

Each is compared with the trained network's share, case by case, by Wilcoxon's signed-rank test (two-sided,
``scipy.stats.wilcoxon``): paired, since a large lesion raises every map's share. Random and null maps explain the
class the trained network predicted; a map with no mass has share 0, as the trained network's does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import wilcoxon

from femur_app.data.dataset import Prepared

from femur_app.evaluation.gradcam import fraction_inside, grad_cam
from femur_app.evaluation.predictions import Predictions
from femur_app.models import build_model
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
class BaselineShare:
    """One baseline map over every case with a mask: its mean share inside the lesion, the trained network's mean
    minus it, and Wilcoxon's paired two-sided p-value (NaN when every difference is 0)."""

    name: str  # "uniform over the ROI", "uniform over the tissue", "random weights", "null-trained"
    mean: float
    difference: float
    p_value: float


@dataclass(frozen=True)
class GradcamBaselines:
    cases: int  # cases with a mask
    mean: float  # the trained network's mean share inside the lesion
    rows: list[BaselineShare]
    shares: dict[str, np.ndarray]  # per case with a mask, in the data's order: "trained" and each baseline


@dataclass(frozen=True)
class Gallery:
    chosen: list[GalleryCase]  # up to ``per_outcome`` of each outcome, the most confident first
    inside: dict[str, InsideLesion]  # outcome -> shares
    baselines: GradcamBaselines | None = None  # None without masks


def outcome(label: int, pred: int) -> str:
    return {(1, 1): "TP", (0, 1): "FP", (1, 0): "FN", (0, 0): "TN"}[(label, pred)]


def heat_maps(model, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Grad-CAM of ``model`` for standardised images ``x``, explaining ``classes``, 32 at a time (none: an empty
    stack, as for a fold without lesion masks)."""
    if len(x) == 0:
        return np.zeros((0, *x.shape[2:]), dtype=np.float32)
    return np.concatenate([grad_cam(model, x[s:s + 32], classes[s:s + 32], model.gradcam_layer)
                           for s in range(0, len(x), 32)])


def random_twin(fold_model: FoldModel, seed: int, fold: int):
    """The fold model's architecture with fresh random weights (module docstring)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(fold, 3)))
    return build_model(fold_model.architecture, rng=rng, input_size=fold_model.input_size, **fold_model.model_kwargs)


def build(models: dict[int, FoldModel], data: Prepared, predictions: Predictions, per_outcome: int = 2, *,
          seed: int = 0, null_model: FoldModel | None = None) -> Gallery:
    """The heat maps of every held-out case, the drawn ones chosen and the shares inside the lesion summarised,
    beside the baseline maps (module docstring).

    ``predictions`` are in ``data``'s case order; ``models``: the fold models by fold; ``seed``: the run's (the
    random twins' weights); ``null_model``: the network trained on shuffled labels, or None.
    """
    preds = predictions.preds
    entries, inside = [], {o: [] for o in OUTCOMES}
    shares = {name: [] for name in ("trained", *BASELINE_NAMES)}
    for fold in np.unique(predictions.folds):
        model = models[int(fold)].model
        idx = np.flatnonzero(predictions.folds == fold)
        x = models[int(fold)].standardise(data.X[idx])
        maps = heat_maps(model, x, preds[idx])
        with_mask = [k for k, i in enumerate(idx) if data.masks[i] is not None and data.masks[i].any()]
        twin_maps = heat_maps(random_twin(models[int(fold)], seed, int(fold)), x[with_mask], preds[idx][with_mask])
        null_maps = (None if null_model is None else
                     heat_maps(null_model.model, null_model.standardise(data.X[idx[with_mask]]), preds[idx][with_mask]))
        for j, k in enumerate(with_mask):
            i, mask = idx[k], data.masks[idx[k]]
            tissue = data.X[i, 0] != 0
            shares["trained"].append(fraction_inside(maps[k], mask))
            shares["uniform over the ROI"].append(float(mask.mean()))
            shares["uniform over the tissue"].append(float((mask & tissue).sum() / max(1, tissue.sum())))
            shares["random weights"].append(fraction_inside(twin_maps[j], mask))
            shares["null-trained"].append(math.nan if null_maps is None else fraction_inside(null_maps[j], mask))
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
    return Gallery(chosen, summarize(inside), compare(shares))


BASELINE_NAMES = ("uniform over the ROI", "uniform over the tissue", "random weights", "null-trained")


def paired_p(a: np.ndarray, b: np.ndarray) -> float:
    """Wilcoxon's two-sided signed-rank p-value of a against b, paired; NaN when every difference is 0."""
    if not np.any(a - b):
        return math.nan
    return float(wilcoxon(a, b).pvalue)


def compare(shares: dict[str, list]) -> GradcamBaselines | None:
    """The trained network's shares against each baseline's (a baseline that was not computed is left out)."""
    trained = np.array(shares["trained"], dtype=float)
    if not len(trained):
        return None
    arrays = {name: np.array(values, dtype=float) for name, values in shares.items()}
    rows = [BaselineShare(name, float(arrays[name].mean()), float((trained - arrays[name]).mean()),
                          paired_p(trained, arrays[name]))
            for name in BASELINE_NAMES if not np.isnan(arrays[name]).any()]
    return GradcamBaselines(len(trained), float(trained.mean()), rows, arrays)


def summarize(inside: dict) -> dict[str, InsideLesion]:
    """{outcome: InsideLesion} from each outcome's (Grad-CAM share, uniform-map share) pairs."""
    summary = {}
    for kind, pairs in inside.items():
        shares = np.array(pairs, dtype=float).reshape(-1, 2)
        summary[kind] = InsideLesion(len(shares), float(shares[:, 0].mean()) if len(shares) else None,
                                     float(shares[:, 1].mean()) if len(shares) else None,
                                     float((shares[:, 0] > shares[:, 1]).mean()) if len(shares) else None)
    return summary
