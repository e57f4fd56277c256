"""Results by subgroup and the worst errors: where the model fails, not only how often.

Subgroups (synthetic data only, where the generator's drawn signs are known for every case, in case order:
``SyntheticSet.signs``, carried by the prepared data): lesion size (largest diameter <= 30 mm or larger) and
cortical breach (absent or present). Each subgroup gets its cases, malignant cases, AUC (NaN with one class) with a
patient-bootstrap 95% interval (``baselines.bootstrap_aucs``: the run's replicates and seed, drawn within the
subgroup), the generator's ceiling in the subgroup with its interval on the same draws (the AUC of
``synthetic.hidden_log_likelihood_ratio`` there: a subgroup can be harder by nature, and the ceiling says how
much), and sensitivity and specificity at the run's threshold, with Wilson intervals.

Failure analysis: the false negatives (malignant cases called benign) with the lowest P(malignant) first - the
errors that matter most for a malignancy classifier.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femur_app.data import synthetic
from femur_app.data.dataset import Prepared
from femur_app.evaluation.baselines import bootstrap_aucs
from femur_app.evaluation.metrics import Confusion, auc, wilson
from femur_app.evaluation.predictions import Predictions

SIZE_SPLIT_MM = 30.0


@dataclass(frozen=True)
class Rate:
    """A proportion with its Wilson 95% interval."""

    value: float
    ci95: tuple[float, float]


@dataclass(frozen=True)
class Subgroup:
    subgroup: str
    cases: int
    malignant: int
    auc: float  # NaN with one class
    sensitivity: Rate
    specificity: Rate
    auc_ci95: tuple[float, float]  # patient bootstrap; NaN with one class
    ceiling_auc: float  # the generator's ceiling in the subgroup; NaN with one class
    ceiling_ci95: tuple[float, float]


@dataclass(frozen=True)
class FailureSigns:
    """The signs the generator drew for a missed synthetic case, rounded as the report shows them."""

    diameter_mm: float
    breach: bool
    periosteal: str
    oedema: bool
    rim: bool
    aggressiveness: float


@dataclass(frozen=True)
class Failure:
    """A malignant case called benign: its place in the data, id, fold and P(malignant), and (synthetic data) its
    drawn signs."""

    index: int  # position in the evaluated data
    case_id: str
    fold: int
    prob_malignant: float
    signs: FailureSigns | None


def subgroup_row(name: str, labels, probs, threshold: float, patient_ids, ceiling_scores, bootstrap: int,
                 seed: int) -> Subgroup:
    confusion = Confusion.of(labels, probs >= threshold)
    counts, rates = confusion.counts(), confusion.rates()
    nan = (float("nan"), float("nan"))
    both = len(np.unique(labels)) == 2
    intervals = (bootstrap_aucs(labels, {"cnn": probs, "ceiling": ceiling_scores}, patient_ids, bootstrap, seed)
                 if both else {"cnn": nan, "ceiling": nan})
    return Subgroup(name, int(len(labels)), int(np.sum(labels)), auc(labels, probs),
                    Rate(rates["sensitivity"], wilson(*counts["sensitivity"])),
                    Rate(rates["specificity"], wilson(*counts["specificity"])),
                    intervals["cnn"], auc(labels, ceiling_scores), intervals["ceiling"])


def synthetic_subgroups(labels, probs, signs, threshold: float, patient_ids, *, bootstrap: int, seed: int,
                        null: bool = False) -> list[Subgroup]:
    """Rows by size and by cortical breach; ``signs``: the ``LesionSigns`` of each case and ``patient_ids``
    its patient, in the same order; ``bootstrap``, ``seed``: the run's (cv.bootstrap, seed); ``null``: a null
    set (ceiling 0.5 everywhere)."""
    labels, probs, patient_ids = np.asarray(labels), np.asarray(probs, dtype=float), np.asarray(patient_ids)
    diameter = np.array([s.diameter_mm for s in signs])
    breach = np.array([bool(s.breach) for s in signs])
    ceiling = np.array([synthetic.hidden_log_likelihood_ratio(s, null) for s in signs])
    groups = {f"diameter <= {SIZE_SPLIT_MM:g} mm": diameter <= SIZE_SPLIT_MM,
              f"diameter > {SIZE_SPLIT_MM:g} mm": diameter > SIZE_SPLIT_MM,
              "no cortical breach": ~breach, "cortical breach": breach}
    return [subgroup_row(name, labels[held], probs[held], threshold, patient_ids[held], ceiling[held], bootstrap,
                         seed) for name, held in groups.items() if held.any()]


def worst_false_negatives(labels, probs, threshold: float, k: int = 6) -> np.ndarray:
    """Indices of up to ``k`` false negatives, the lowest P(malignant) first (ties: the earlier case first)."""
    labels, probs = np.asarray(labels), np.asarray(probs, dtype=float)
    missed = np.flatnonzero((labels == 1) & (probs < threshold))
    return missed[np.argsort(probs[missed], kind="stable")][:k]


def failures(data: Prepared, predictions: Predictions) -> list[Failure]:
    """The worst false negatives of ``predictions`` (in ``data``'s case order), with their drawn signs where the
    data carry them."""
    rows = []
    for i in worst_false_negatives(predictions.labels, predictions.probs, predictions.threshold):
        signs = None
        if data.signs is not None:
            s = data.signs[i]
            signs = FailureSigns(round(float(s.diameter_mm), 1), bool(s.breach), s.periosteal, s.oedema > 0,
                                 s.rim > 0, round(float(s.aggressiveness), 3))
        rows.append(Failure(int(i), str(predictions.case_ids[i]), int(predictions.folds[i]),
                            float(predictions.probs[i]), signs))
    return rows
