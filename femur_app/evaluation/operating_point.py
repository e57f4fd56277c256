"""An operating point fixed in advance: a threshold each fold chooses on its own training cases, for a stated target,
reported beside the run's fixed threshold (cv.threshold, 0.5) and never chosen on the reported predictions.

The target: sensitivity >= ``TARGET_SENSITIVITY`` (0.90), since missing a malignant tumour costs more than a
benign one called malignant. Each fold, once trained, predicts its own training cases (evaluation mode, no
augmentation: ``femur_app.training.fold``) and keeps the largest threshold that calls at least 90 % of the
malignant ones malignant (``threshold_for_sensitivity``); its held-out cases are then called at that threshold.
Where it is chosen and why: on the training fold's own predictions, because the held-out fold is what is reported
and an inner split would train a second network per fold. The price is a known bias: a network ranks and scores
the cases it was fitted on more confidently than new ones, so its training-fold threshold tends to sit high and
the held-out sensitivity to fall short of the target; the report shows by how much.

``operating_point`` pools the held-out calls (each case at its own fold's threshold) into one confusion matrix
with Wilson intervals; None when a finished fold has no threshold recorded (a fold trained before it was).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from femur_app.evaluation.metrics import Confusion, wilson
from femur_app.evaluation.subgroups import Rate

TARGET_SENSITIVITY = 0.90


def threshold_for_sensitivity(labels, probs, target: float = TARGET_SENSITIVITY) -> float:
    """The largest threshold t with sensitivity (the share of malignant cases with P >= t) at least ``target``:
    the k-th highest malignant probability, k = ceil(target * malignant cases)."""
    labels, probs = np.asarray(labels), np.asarray(probs, dtype=float)
    malignant = np.sort(probs[labels == 1])[::-1]
    if len(malignant) == 0:
        raise ValueError("threshold_for_sensitivity: no malignant case to reach a sensitivity with")
    k = max(1, math.ceil(target * len(malignant) - 1e-9))
    return float(malignant[k - 1])


@dataclass(frozen=True)
class OperatingPoint:
    """The held-out cases called at their fold's training-chosen threshold, pooled."""

    target_sensitivity: float
    thresholds: dict[int, float]  # fold -> its threshold
    confusion: Confusion
    sensitivity: Rate
    specificity: Rate


def operating_point(labels, probs, folds, thresholds: dict[int, float | None]) -> OperatingPoint | None:
    """Pooled calls of ``probs`` (with their ``labels`` and ``folds``) at each fold's threshold; None when a fold
    of ``folds`` has none."""
    labels, probs, folds = np.asarray(labels), np.asarray(probs, dtype=float), np.asarray(folds)
    used = {int(f) for f in np.unique(folds)}
    if any(thresholds.get(f) is None for f in used):
        return None
    cut = np.array([thresholds[int(f)] for f in folds])
    confusion = Confusion.of(labels, probs >= cut)
    counts, rates = confusion.counts(), confusion.rates()
    return OperatingPoint(TARGET_SENSITIVITY, {f: float(thresholds[f]) for f in sorted(used)}, confusion,
                          Rate(rates["sensitivity"], wilson(*counts["sensitivity"])),
                          Rate(rates["specificity"], wilson(*counts["specificity"])))
