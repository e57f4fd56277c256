"""Results by subgroup and the worst errors: where the model fails, not only how often.

Subgroups (synthetic data only, where the generator's drawn signs are known for every case, in case order:
``SyntheticSet.signs``, carried by the prepared data): lesion size (largest diameter <= 30 mm or larger) and cortical breach
(absent or present). Each subgroup gets its cases, malignant cases, AUC (NaN with one class) and sensitivity and
specificity at the run's threshold, with Wilson intervals.

Failure analysis: the false negatives (malignant cases called benign) with the lowest P(malignant) first - the
errors that matter most for a malignancy classifier.
"""
from __future__ import annotations

import numpy as np

from femur_app.evaluation.metrics import Confusion, auc, wilson

SIZE_SPLIT_MM = 30.0


def subgroup_row(name: str, labels, probs, threshold: float) -> dict:
    confusion = Confusion.of(labels, probs >= threshold)
    counts = confusion.counts()
    return {"subgroup": name, "cases": int(len(labels)), "malignant": int(np.sum(labels)),
            "auc": auc(labels, probs),
            "sensitivity": {"value": confusion.rates()["sensitivity"], "ci95": list(wilson(*counts["sensitivity"]))},
            "specificity": {"value": confusion.rates()["specificity"], "ci95": list(wilson(*counts["specificity"]))}}


def synthetic_subgroups(labels, probs, signs, threshold: float) -> list[dict]:
    """Rows by size and by cortical breach; ``signs``: the ``LesionSigns`` of each case, in the same order."""
    labels, probs = np.asarray(labels), np.asarray(probs, dtype=float)
    diameter = np.array([s.diameter_mm for s in signs])
    breach = np.array([bool(s.breach) for s in signs])
    groups = {f"diameter <= {SIZE_SPLIT_MM:g} mm": diameter <= SIZE_SPLIT_MM,
              f"diameter > {SIZE_SPLIT_MM:g} mm": diameter > SIZE_SPLIT_MM,
              "no cortical breach": ~breach, "cortical breach": breach}
    return [subgroup_row(name, labels[held], probs[held], threshold) for name, held in groups.items() if held.any()]


def worst_false_negatives(labels, probs, threshold: float, k: int = 6) -> np.ndarray:
    """Indices of up to ``k`` false negatives, the lowest P(malignant) first (ties: the earlier case first)."""
    labels, probs = np.asarray(labels), np.asarray(probs, dtype=float)
    missed = np.flatnonzero((labels == 1) & (probs < threshold))
    return missed[np.argsort(probs[missed], kind="stable")][:k]
