"""DeLong's test across the repetitions of a repeated cross-validation, training variance kept.

Testing DeLong on each case's P(malignant) averaged over K repetitions compares two *ensembles* of K trainings:
the spread between trainings (split, initial weights, batch order) is averaged away before the test sees it, and
the test treats both ensembles as fixed. Here instead every repetition r is tested on its own - both models were
trained with the same seed, so on the same split, and predicted the same cases - giving the paired difference
d_r = AUC_a,r - AUC_b,r and its DeLong variance U_r (the sampling of patients, repetition r's models fixed). The
K results are combined by Rubin's rules (Rubin 1987, as for multiply imputed data, the repetitions playing the
imputations)::

    d    = mean of d_r                         the difference of the two procedures
    W    = mean of U_r                         within: the sampling of patients
    B    = sample variance of d_r              between: the variation from one training to the next
    T    = W + (1 + 1/K) B                     the total variance of d
    df   = (K - 1) (1 + W / ((1 + 1/K) B))^2   Rubin's degrees of freedom (infinite when B = 0)
    p    = 2 P(t_df > |d| / sqrt(T)),  95% CI  d +- t_df,0.975 sqrt(T)

With B = 0 (identical repetitions) this is DeLong's test of one repetition; the more the difference moves between
trainings, the wider the interval and the fewer the degrees of freedom. ``tests/femur_app/test_compare.py``
recomputes every figure with its own Mann-Whitney DeLong and these formulas.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

from femur_app.evaluation.delong import DeLongResult, delong_test


@dataclass(frozen=True)
class RepeatedDeLong:
    per_repetition: list[DeLongResult]
    auc_a: float  # mean over the repetitions
    auc_b: float
    difference: float  # auc_a - auc_b
    within: float  # W
    between: float  # B
    std_error: float  # sqrt(T)
    df: float  # inf when B = 0
    p_value: float  # two-sided
    ci95: tuple[float, float]  # for the difference


def repeated_delong(labels, scores_a, scores_b) -> RepeatedDeLong:
    """``labels``: (N,) or one row per repetition (K, N); ``scores_a``, ``scores_b``: (K, N), each repetition's
    out-of-fold P(malignant) of model a and b on the same cases (module docstring)."""
    scores_a, scores_b = np.atleast_2d(scores_a), np.atleast_2d(scores_b)
    labels = np.broadcast_to(labels, scores_a.shape)
    results = [delong_test(y, a, b) for y, a, b in zip(labels, scores_a, scores_b)]
    k = len(results)
    differences = np.array([r.difference for r in results])
    difference = float(differences.mean())
    within = float(np.mean([r.std_error ** 2 for r in results]))
    between = float(differences.var(ddof=1)) if k > 1 else 0.0
    total = within + (1 + 1 / k) * between
    se = float(np.sqrt(total))
    df = (k - 1) * (1 + within / ((1 + 1 / k) * between)) ** 2 if between > 0 else np.inf
    if se == 0.0:
        p = 1.0 if difference == 0 else 0.0
    else:
        p = float(2 * student_t.sf(abs(difference) / se, df))
    half = float(student_t.ppf(0.975, df)) * se
    return RepeatedDeLong(results, float(np.mean([r.auc_a for r in results])),
                          float(np.mean([r.auc_b for r in results])), difference, within, between, se, float(df), p,
                          (difference - half, difference + half))
