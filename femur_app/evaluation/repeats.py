"""The evaluation of a repeated cross-validation (``cv.repeats`` = K > 1; ``femur_app.training.repeats`` runs it):
each repetition's pooled AUC and accuracy, their mean and sample sd, and an interval that includes training
variance:

    two-level bootstrap: each of B replicates draws one repetition r uniformly and then the patients with
    replacement (``default_rng(seed)``), and recomputes the metric from repetition r's out-of-fold predictions
    of the drawn patients; the 2.5th and 97.5th percentiles of the B values.

The interval is thus that of *one* model trained by this procedure on this many patients: its spread holds
both the sampling of patients and the variation between trainings (split, initialisation, batch order) that a
single run's patient bootstrap leaves out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femur_app.evaluation.metrics import Confusion, MeanSD, auc, mean_sd, percentile_interval
from femur_app.evaluation.predictions import Predictions

CI_METHOD = "two-level bootstrap: a repetition drawn uniformly, then patients with replacement"


@dataclass(frozen=True)
class Repetition:
    repetition: int
    seed: int
    auc: float
    accuracy: float
    sensitivity: float
    specificity: float
    test_auc: float | None = None  # with an independent test set


@dataclass(frozen=True)
class TwoLevelInterval:
    auc: tuple[float, float]
    accuracy: tuple[float, float]
    replicates: int
    seed: int


@dataclass(frozen=True)
class RepeatsSummary:
    repetitions: list[Repetition]
    mean_sd: dict[str, MeanSD]  # auc, accuracy, sensitivity, specificity (and test_auc) over the repetitions
    ci95_with_training_variance: TwoLevelInterval
    ci_method: str
    averaged_auc: float  # AUC of each case's P(malignant) averaged over the repetitions


def two_level_bootstrap(labels, probs_by_repetition, patient_ids, threshold: float, replicates: int,
                        seed: int) -> TwoLevelInterval:
    """Percentile 95% intervals of AUC and accuracy over (repetition, patient sample) draws (module docstring)."""
    labels = np.asarray(labels)
    probs = np.asarray(probs_by_repetition, dtype=float)  # (K, N)
    patients, index = np.unique(np.asarray(patient_ids), return_inverse=True)
    cases_of = [np.flatnonzero(index == p) for p in range(len(patients))]
    rng = np.random.default_rng(seed)
    aucs, accuracies = [], []
    for _ in range(replicates):
        r = int(rng.integers(0, len(probs)))
        cases = np.concatenate([cases_of[p] for p in rng.integers(0, len(patients), len(patients))])
        accuracies.append(float((((probs[r, cases] >= threshold).astype(int)) == labels[cases]).mean()))
        if len(np.unique(labels[cases])) == 2:
            aucs.append(auc(labels[cases], probs[r, cases]))
    return TwoLevelInterval(percentile_interval(aucs), percentile_interval(accuracies), replicates, seed)


def summarize_repeats(predictions: list[Predictions], seeds: list[int], test_aucs: list[float | None],
                      threshold: float, replicates: int, seed: int) -> RepeatsSummary:
    """Each repetition's out-of-fold ``predictions`` (the same cases in the same order), its ``seeds`` and, with a
    test set, its test AUC -> per repetition, mean and sd, and the two-level bootstrap interval."""
    first = predictions[0]
    for other in predictions[1:]:
        if not np.array_equal(other.case_ids, first.case_ids):
            raise AssertionError("repetitions predicted different cases")
    labels = first.labels
    rows = []
    for number, (p, s, test_auc) in enumerate(zip(predictions, seeds, test_aucs), start=1):
        rates = Confusion.of(labels, p.probs >= threshold).rates()
        rows.append(Repetition(number, s, auc(labels, p.probs), rates["accuracy"], rates["sensitivity"],
                               rates["specificity"], test_auc))
    names = ["auc", "accuracy", "sensitivity", "specificity"] + (["test_auc"] if rows[0].test_auc is not None else [])
    probs = np.stack([p.probs for p in predictions])
    return RepeatsSummary(rows, {name: mean_sd([getattr(row, name) for row in rows]) for name in names},
                          two_level_bootstrap(labels, probs, first.patient_ids, threshold, replicates, seed),
                          CI_METHOD, auc(labels, probs.mean(axis=0)))
