"""Cross-validation folds: stratified by label, grouped by patient, with the grouping asserted.

Every case of a patient lands in the same fold (scikit-learn's ``StratifiedGroupKFold``), so no image of a
test patient - nor an augmented copy of one, since augmentation happens inside the training fold - is ever
seen in training. Within that constraint each fold keeps the overall share of malignant cases as closely as
the patients allow. The split is shuffled with the run's seed, so it is reproducible.
"""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from femur_app.errors import ConfigError, DataError


def assign_folds(labels, patient_ids, n_folds: int, seed: int) -> np.ndarray:
    """Fold number (1 .. n_folds, as every output of a run counts them) of every case -> int64 array (N,).

    Raises DataError (a ValueError) when the data hold one class only, ConfigError naming both counts when either
    class has fewer patients than folds (some fold would have no case of that class, so its sensitivity or
    specificity would be undefined): both before anything trains.
    """
    labels, patient_ids = np.asarray(labels), np.asarray(patient_ids)
    if labels.shape != patient_ids.shape or labels.ndim != 1:
        raise ValueError(f"assign_folds: labels {labels.shape} and patient_ids {patient_ids.shape} must be "
                         f"1-D arrays of the same length")
    if n_folds < 2:
        raise ValueError(f"assign_folds: n_folds must be at least 2, got {n_folds}")
    benign, malignant = (len(np.unique(patient_ids[labels == label])) for label in (0, 1))
    if min(benign, malignant) == 0:
        raise DataError(f"the data: {benign} benign and {malignant} malignant patients (expected both classes: a "
                        "cross-validated AUC, sensitivity and specificity need them)")
    if min(benign, malignant) < n_folds:
        raise ConfigError(f"cv.folds {n_folds}: more folds than patients of a class, {benign} benign and {malignant} "
                          f"malignant (expected cv.folds <= {min(benign, malignant)}, so that every fold holds both "
                          "classes)")
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    folds = np.zeros(len(labels), dtype=np.int64)
    for fold, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups=patient_ids)):
        folds[test] = fold + 1
    check_grouping(folds, patient_ids)
    return folds


def check_grouping(folds, patient_ids) -> None:
    """Assert that every case has a fold and no patient appears in two folds; the error names the patients."""
    folds, patient_ids = np.asarray(folds), np.asarray(patient_ids)
    if (folds < 1).any():
        raise AssertionError(f"cases without a fold: {np.flatnonzero(folds < 1).tolist()}")
    pairs = np.unique(np.stack([patient_ids.astype(str), folds.astype(str)]), axis=1)
    patients, counts = np.unique(pairs[0], return_counts=True)
    split = patients[counts > 1]
    if len(split):
        raise AssertionError(f"patients in more than one fold: {split.tolist()}")
