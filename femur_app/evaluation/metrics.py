"""Classification metrics from confusion matrices and out-of-fold probabilities, with 95% confidence intervals.

Malignant (label 1) is the positive class. At a threshold t a case is called malignant when
P(malignant) >= t, which gives the confusion matrix (TN, FP, FN, TP) and from it::

    accuracy    = (TP + TN) / N             precision   = TP / (TP + FP)
    sensitivity = TP / (TP + FN)            specificity = TN / (TN + FP)
    F1          = 2 TP / (2 TP + FP + FN)   (the harmonic mean of precision and sensitivity, written so that it
                                             is 0, not undefined, when TP = 0)

A rate whose denominator is 0 is undefined (NaN here, null in JSON). AUC and the ROC curve come from
scikit-learn (``roc_auc_score``, ``roc_curve``) on the probabilities, with no threshold.

Two summaries, both reported:

* *pooled*: every case's out-of-fold prediction in one confusion matrix (the sum of the per-fold ones) and one
  ROC curve. The four proportions get Wilson score intervals; F1 and AUC, which are not proportions, get
  percentile intervals from a *patient-level* bootstrap: ``bootstrap_replicates`` times, draw as many patients
  as there are, with replacement, from ``numpy.random.default_rng(seed)`` (``rng.integers(0, P, P)`` on the
  sorted unique patient ids), take all cases of the drawn patients, and recompute; replicates with only one
  class are skipped (and counted). Resampling patients, not images, keeps a patient's images together.
* *per fold*: the metrics of each fold's held-out cases, then their mean and sample standard deviation
  (ddof = 1) over the folds where they are defined.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, is_dataclass

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

RATES = ("accuracy", "precision", "sensitivity", "specificity", "f1")
PROPORTIONS = ("accuracy", "precision", "sensitivity", "specificity")
Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal


@dataclass(frozen=True)
class Confusion:
    """Counts of one 2x2 confusion matrix, malignant = positive."""

    tn: int
    fp: int
    fn: int
    tp: int

    @classmethod
    def of(cls, labels, predictions) -> Confusion:
        labels, predictions = np.asarray(labels).astype(bool), np.asarray(predictions).astype(bool)
        return cls(tn=int((~labels & ~predictions).sum()), fp=int((~labels & predictions).sum()),
                   fn=int((labels & ~predictions).sum()), tp=int((labels & predictions).sum()))

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tn + other.tn, self.fp + other.fp, self.fn + other.fn, self.tp + other.tp)

    def counts(self) -> dict[str, tuple[int, int]]:
        """(successes, trials) of each proportion."""
        return {"accuracy": (self.tp + self.tn, self.tp + self.tn + self.fp + self.fn),
                "precision": (self.tp, self.tp + self.fp),
                "sensitivity": (self.tp, self.tp + self.fn),
                "specificity": (self.tn, self.tn + self.fp)}

    def rates(self) -> dict[str, float]:
        """The five threshold metrics as fractions in [0, 1]; NaN where a denominator is 0."""
        values = {name: ratio(k, n) for name, (k, n) in self.counts().items()}
        values["f1"] = ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)
        return values


def ratio(k: int, n: int) -> float:
    return k / n if n else math.nan


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials: centre (k + z^2/2) / (n + z^2), half-width
    z sqrt(k (n - k) / n + z^2 / 4) / (n + z^2). (NaN, NaN) when n = 0."""
    if n == 0:
        return math.nan, math.nan
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)  # exact ends, no rounding


def auc(labels, probabilities) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return math.nan
    return float(roc_auc_score(labels, probabilities))


def roc(labels, probabilities) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate, thresholds) of the ROC curve."""
    return roc_curve(labels, probabilities)


def patient_bootstrap(labels, probabilities, patient_ids, threshold: float, replicates: int, seed: int) -> dict:
    """Percentile 95% intervals of AUC and F1 from resampling patients (see the module docstring)."""
    labels, probabilities = np.asarray(labels), np.asarray(probabilities)
    patients, index = np.unique(np.asarray(patient_ids), return_inverse=True)
    cases_of = [np.flatnonzero(index == p) for p in range(len(patients))]
    rng = np.random.default_rng(seed)
    aucs, f1s, skipped = [], [], 0
    predictions = probabilities >= threshold
    for _ in range(replicates):
        drawn = rng.integers(0, len(patients), len(patients))
        cases = np.concatenate([cases_of[p] for p in drawn])
        if len(np.unique(labels[cases])) < 2:
            skipped += 1
            continue
        aucs.append(roc_auc_score(labels[cases], probabilities[cases]))
        f1s.append(Confusion.of(labels[cases], predictions[cases]).rates()["f1"])
    return {"auc": percentile_interval(aucs), "f1": percentile_interval(f1s),
            "replicates": replicates, "skipped": skipped, "seed": seed}


def percentile_interval(values) -> tuple[float, float]:
    if len(values) == 0:
        return math.nan, math.nan
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Estimate:
    """A pooled value with its 95% interval and how the interval was computed."""

    value: float
    ci95: tuple[float, float]
    ci_method: str


@dataclass(frozen=True)
class Pooled:
    """Every case's out-of-fold prediction in one confusion matrix (the sum of the folds') and one ROC curve."""

    confusion: Confusion
    accuracy: Estimate
    precision: Estimate
    sensitivity: Estimate
    specificity: Estimate
    f1: Estimate
    auc: Estimate

    def estimates(self) -> dict[str, Estimate]:
        """{metric name: its Estimate}, in METRICS order."""
        return {name: getattr(self, name) for name in METRICS}


@dataclass(frozen=True)
class FoldMetrics:
    """Confusion matrix, five rates and AUC of one fold's held-out cases (NaN where undefined)."""

    fold: int
    cases: int
    malignant: int
    confusion: Confusion
    accuracy: float
    precision: float
    sensitivity: float
    specificity: float
    f1: float
    auc: float


@dataclass(frozen=True)
class MeanSD:
    """Mean and sample sd (ddof = 1) of the defined values, and how many there were (``folds``)."""

    mean: float
    sd: float
    folds: int


@dataclass(frozen=True)
class Bootstrap:
    """How the patient bootstrap ran: replicates drawn, replicates skipped (one class only), its seed."""

    replicates: int
    skipped: int
    seed: int


@dataclass(frozen=True)
class Summary:
    """What ``summarize`` computes of one set of predictions (see the module docstring): fractions, not
    percentages; undefined values NaN."""

    threshold: float
    positive_class: str
    cases: int
    patients: int
    malignant: int
    pooled: Pooled
    bootstrap: Bootstrap
    per_fold: list[FoldMetrics]
    fold_mean_sd: dict[str, MeanSD]  # metric name (METRICS) -> mean and sd over the folds


METRICS = (*RATES, "auc")


def fold_metrics(fold: int, labels, probabilities, threshold: float) -> FoldMetrics:
    """Confusion matrix, five rates and AUC of one set of cases."""
    labels = np.asarray(labels)
    confusion = Confusion.of(labels, np.asarray(probabilities) >= threshold)
    return FoldMetrics(fold, int(len(labels)), int(labels.sum()), confusion, **confusion.rates(),
                       auc=auc(labels, probabilities))


def mean_sd(values) -> MeanSD:
    """Mean and sample standard deviation (ddof = 1) of the defined (non-NaN) values, and how many there were."""
    defined = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    mean = float(defined.mean()) if len(defined) else math.nan
    sd = float(defined.std(ddof=1)) if len(defined) > 1 else math.nan
    return MeanSD(mean, sd, int(len(defined)))


def summarize(labels, probabilities, folds, patient_ids, *, threshold: float = 0.5,
              bootstrap_replicates: int = 2000, seed: int = 0) -> Summary:
    """Pooled metrics with CIs, per-fold metrics, their mean and sd (see the module docstring)."""
    labels, probabilities, folds = np.asarray(labels), np.asarray(probabilities, dtype=float), np.asarray(folds)
    pooled_confusion = Confusion.of(labels, probabilities >= threshold)
    values = pooled_confusion.rates()
    boot = patient_bootstrap(labels, probabilities, patient_ids, threshold, bootstrap_replicates, seed)
    proportions = {name: Estimate(values[name], wilson(k, n), "Wilson score")
                   for name, (k, n) in pooled_confusion.counts().items()}
    pooled = Pooled(pooled_confusion, **proportions,
                    f1=Estimate(values["f1"], boot["f1"], "patient bootstrap percentile"),
                    auc=Estimate(auc(labels, probabilities), boot["auc"], "patient bootstrap percentile"))
    per_fold = [fold_metrics(int(f), labels[folds == f], probabilities[folds == f], threshold)
                for f in np.unique(folds)]
    return Summary(threshold=threshold, positive_class="malignant", cases=int(len(labels)),
                   patients=int(len(np.unique(patient_ids))), malignant=int(labels.sum()), pooled=pooled,
                   bootstrap=Bootstrap(bootstrap_replicates, boot["skipped"], seed), per_fold=per_fold,
                   fold_mean_sd={name: mean_sd([getattr(f, name) for f in per_fold]) for name in METRICS})


def to_json_safe(value):
    """NaN -> None (JSON has no NaN), recursively through dicts, lists and dataclasses (as their fields)."""
    if is_dataclass(value) and not isinstance(value, type):
        return to_json_safe(asdict(value))
    if isinstance(value, dict):
        return {k: to_json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_safe(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
