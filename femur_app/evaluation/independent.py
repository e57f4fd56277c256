"""The independent test set: cases no fold ever trained or was evaluated on, predicted after the cross-validation.

``data.test_source`` (``--test-data``) names it: a data folder, read like ``--data``, or ``synthetic:SEED``, a
fresh synthetic set of the training set's size drawn with another ``synthetic_seed`` (read by
``femur_app.data.load``, which says how the two are kept apart).

Which model predicts it: every fold's model, and each case gets the *mean* of their P(malignant) (an ensemble of
the K fold models, each trained on (K - 1)/K of the training data); no model is retrained on all the data. Each
fold model standardises the test images with its own training fold's statistics (``FoldModel``), as in the
cross-validation. The threshold is the run's (``cv.threshold``), fixed before any test case was seen.

Whether the test is *external* (``scope_of_test``): only a test set from another centre is. A ``synthetic:SEED`` set
comes from the very generator of the training set, so it is an internal test (new cases, same population); a
folder whose ``import_summary.json`` names centres is external when none of them is a training centre and
internal otherwise; any other folder's origin is not recorded, and it is not called external.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femur_app.data.dataset import Prepared
from femur_app.evaluation.calibration import Calibration, calibration
from femur_app.evaluation.data_facts import DataFacts, facts, import_summary
from femur_app.evaluation.duplicates import NearDuplicate, near_duplicates
from femur_app.evaluation.metrics import Summary, auc, summarize
from femur_app.evaluation.predictions import Predictions
from femur_app.models.fold_model import FoldModel

ENSEMBLE_FOLD = 0  # the fold column of test_predictions.csv: 0 = the mean of all fold models


@dataclass(frozen=True)
class IndependentResult:
    """The independent test set's evaluation."""

    data: Prepared  # its cases (``data.source``: the test source as given)
    predictions: Predictions  # fold column ENSEMBLE_FOLD; probs = the fold models' mean
    per_model: np.ndarray  # (folds, N): each fold model's P(malignant)
    per_model_auc: list[float]  # each fold model's AUC on it
    summary: Summary  # the ensemble's metrics with CIs
    facts: DataFacts
    calibration: Calibration
    shared_patients: list[str]  # patient ids found in both the training and the test set (should be empty)
    near_duplicates: list[NearDuplicate]  # training/test image pairs with near-identical hashes (should be empty)
    external: bool  # from another centre than the training data (``scope_of_test``)
    scope: str  # why it is external or internal, in words


def centres(data: Prepared) -> set[str] | None:
    """The centres a data folder's import summary names (its ``by_centre`` keys), None when it names none."""
    by_centre = (import_summary(data.source) or {}).get("by_centre")
    return set(map(str, by_centre)) if isinstance(by_centre, dict) and by_centre else None


def scope_of_test(test: Prepared, train: Prepared) -> tuple[bool, str]:
    """(external, the reason in words) for a test set beside its training set (module docstring)."""
    if test.synthetic is not None:
        return False, ("internal: drawn by the same generator as the training set (another synthetic_seed: new "
                       "cases of the same population, not another centre, scanner or population)")
    test_centres, train_centres = centres(test), centres(train)
    if test_centres is None or train_centres is None:
        return False, ("not known to be external: the data do not record their centre, so the test set may come "
                       "from the training set's centre; it is counted as internal")
    shared = sorted(test_centres & train_centres)
    if shared:
        return False, f"internal: it shares centre(s) {', '.join(shared)} with the training set"
    return True, (f"external: centre(s) {', '.join(sorted(test_centres))}, none of them a training centre "
                  f"({', '.join(sorted(train_centres))})")


def evaluate_independent(data: Prepared, models: dict[int, FoldModel], train_data: Prepared, *, threshold: float,
                         bootstrap: int, seed: int, modality: str = "", batch_size: int = 32) -> IndependentResult:
    """Predict the test set ``data`` (``femur_app.data.load(..., test=True)``) with the fold ``models`` and
    evaluate the mean of their P(malignant); ``train_data``: the training cases, whose patients must not recur."""
    per_model = np.stack([m.predict(data.X, batch_size) for m in models.values()])
    probs = per_model.mean(axis=0)
    predictions = Predictions(data.case_ids, data.patient_ids, np.full(len(data.y), ENSEMBLE_FOLD), data.y, probs,
                              threshold)
    summary = summarize(data.y, probs, predictions.folds, data.patient_ids, threshold=threshold,
                        bootstrap_replicates=bootstrap, seed=seed)
    shared = sorted(set(data.patient_ids.tolist()) & set(train_data.patient_ids.tolist()))
    return IndependentResult(data, predictions, per_model, [auc(data.y, q) for q in per_model], summary,
                             facts(data, modality), calibration(data.y, probs), shared,
                             near_duplicates(train_data, data), *scope_of_test(data, train_data))
