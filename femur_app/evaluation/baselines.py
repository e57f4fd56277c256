"""What the CNN's AUC is measured against, in every report: baselines on the same cases and the same folds.

    radiomics     hand-crafted features of the very ROIs the CNN sees (``femur_app.models.radiomics``) and a
                  logistic regression, fitted per fold on the cases that fold's CNN trained on, predicting the
                  cases it held out: the classical pipeline the paper says deep learning replaces
    sign reader   (synthetic data) a logistic regression that reads every sign the generator drew, exactly (no
                  image: ``sign_features``), fitted the same way per fold: a reachable reference, below the ceiling
    ceiling       (synthetic data) the generator's Bayes-optimal score (``synthetic.hidden_log_likelihood_ratio``),
                  fitted on nothing: the best AUC any reader of these cases can expect

Each gets its AUC with a patient-bootstrap 95% percentile interval drawn exactly as the CNN's
(``metrics.patient_bootstrap``: the same ``default_rng(seed)``, the same patients drawn in the same order, one-class
replicates skipped), so the CNN's interval computed here equals its reported one, and the draws are paired across
the scores. DeLong's test (``femur_app.evaluation.delong``) compares the CNN with each baseline on the same cases.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from femur_app.data import synthetic
from femur_app.data.dataset import Prepared
from femur_app.evaluation.delong import DeLongResult, delong_test
from femur_app.evaluation.metrics import percentile_interval
from femur_app.models import radiomics


def rank_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The Mann-Whitney AUC from mid-ranks (ties count one half): equal to ``roc_auc_score``, without its checks."""
    positive = labels.astype(bool)
    m = int(positive.sum())
    n = len(labels) - m
    return float((rankdata(scores)[positive].sum() - m * (m + 1) / 2) / (m * n))


def bootstrap_aucs(labels, scores: dict[str, np.ndarray], patient_ids, replicates: int,
                   seed: int) -> dict[str, tuple[float, float]]:
    """{name: patient-bootstrap percentile 95% interval of that score's AUC}, all on the same draws, which are
    those of ``metrics.patient_bootstrap`` with the same ``seed`` (replicates with one class skipped)."""
    labels = np.asarray(labels)
    patients, index = np.unique(np.asarray(patient_ids), return_inverse=True)
    cases_of = [np.flatnonzero(index == p) for p in range(len(patients))]
    rng = np.random.default_rng(seed)
    drawn_aucs = {name: [] for name in scores}
    for _ in range(replicates):
        drawn = rng.integers(0, len(patients), len(patients))
        cases = np.concatenate([cases_of[p] for p in drawn])
        if len(np.unique(labels[cases])) < 2:
            continue
        for name, score in scores.items():
            drawn_aucs[name].append(rank_auc(labels[cases], np.asarray(score)[cases]))
    return {name: percentile_interval(values) for name, values in drawn_aucs.items()}


def sign_features(signs) -> np.ndarray:
    """Every drawn sign of each case, on the scale it was drawn on (the zone of transition as sqrt(t - 0.4),
    since t = 0.4 + 5 r^2): (N, 10)."""
    return np.array([[np.sqrt(s.transition_mm - 0.4), s.irregularity, s.harmonics, s.heterogeneity, s.rim > 0,
                      s.oedema, s.breach, s.periosteal != "none", s.diameter_mm, s.contrast] for s in signs], float)


def sign_reader() -> object:
    """Standardise, then an (L2, C = 1) logistic regression: the exact-sign reader."""
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))


def per_fold(features: np.ndarray, labels: np.ndarray, held_out: list[np.ndarray], fit_predict) -> np.ndarray:
    """P(malignant) of every held-out case, each fold's from a model fitted on all cases outside that fold
    (the CNN's training fold): ``fit_predict(train_x, train_y, test_x)``; NaN for cases no fold held out."""
    probs = np.full(len(labels), np.nan)
    for held in held_out:
        train = np.setdiff1d(np.arange(len(labels)), held)
        probs[held] = fit_predict(features[train], labels[train], features[held])
    return probs


def fit_sign_reader(train_x, train_y, test_x) -> np.ndarray:
    return sign_reader().fit(train_x, train_y).predict_proba(test_x)[:, 1]


@dataclass(frozen=True)
class Baseline:
    """One reference score on the evaluated cases: its AUC with the paired patient-bootstrap interval, and
    DeLong's test of the CNN against it (difference = CNN minus baseline)."""

    name: str  # "radiomics", "sign reader" or "ceiling"
    auc: float
    ci95: tuple[float, float]
    versus_cnn: DeLongResult
    scores: np.ndarray  # per evaluated case, in the evaluation's order (P(malignant); the ceiling: a log-ratio)


@dataclass(frozen=True)
class Baselines:
    cnn_ci95: tuple[float, float]  # the CNN's AUC interval on the same draws (equals the summary's)
    rows: list[Baseline]


def baselines(data: Prepared, index: np.ndarray, held_out: list[np.ndarray], cnn_probs: np.ndarray, *,
              bootstrap: int, seed: int, jobs: int = 1) -> Baselines | None:
    """The baselines (module docstring) on the evaluated cases ``index`` of ``data`` (positions, in the
    evaluation's order), with each finished fold's held-out positions in ``held_out`` and the CNN's
    out-of-fold P(malignant) ``cnn_probs`` (in the evaluation's order). None when the evaluated cases hold one
    class (no AUC). ``jobs``: processes for the radiomics features."""
    labels = data.y[index]
    if len(np.unique(labels)) < 2:
        return None
    scores = {"radiomics": per_fold(radiomics.feature_matrix(data.X, n_jobs=jobs), data.y, held_out,
                                    radiomics.fit_predict)[index]}
    if data.signs is not None:
        null = data.synthetic is not None and data.synthetic.null
        scores["sign reader"] = per_fold(sign_features(data.signs), data.y, held_out, fit_sign_reader)[index]
        scores["ceiling"] = np.array([synthetic.hidden_log_likelihood_ratio(data.signs[i], null) for i in index])
    intervals = bootstrap_aucs(labels, {"cnn": cnn_probs, **scores}, data.patient_ids[index], bootstrap, seed)
    rows = [Baseline(name, rank_auc(labels, score), intervals[name], delong_test(labels, cnn_probs, score), score)
            for name, score in scores.items()]
    return Baselines(intervals["cnn"], rows)
