"""DeLong's test for two correlated ROC AUCs measured on the same cases (DeLong, DeLong & Clarke-Pearson 1988).

The AUC is the Mann-Whitney statistic: the probability that a random positive scores above a random negative
(ties count one half). With m positives X_i and n negatives Y_j, psi(x, y) = 1 if x > y, 1/2 if x = y, else 0::

    AUC      = 1/(m n) * sum_i sum_j psi(X_i, Y_j)
    V10[i]   = 1/n * sum_j psi(X_i, Y_j)        (structural component of positive i)
    V01[j]   = 1/m * sum_i psi(X_i, Y_j)        (structural component of negative j)

For two models scored on the same cases, S10 and S01 are the 2x2 sample covariance matrices of (V10_a, V10_b)
and (V01_a, V01_b); Cov(AUC) = S10 / m + S01 / n. The difference AUC_a - AUC_b has variance
[1, -1] Cov [1, -1]^T, and z = difference / its standard error is compared with a standard normal.
The components come from mid-ranks, so the cost is O((m + n) log(m + n)) rather than O(m n).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, rankdata


def structural_components(labels, scores):
    """(AUC, V10 over the positives, V01 over the negatives) from mid-ranks."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    m, n = int(labels.sum()), int((~labels).sum())
    if m == 0 or n == 0:
        raise ValueError(f"DeLong: needs both classes, got {m} positives and {n} negatives")
    rank_all = rankdata(scores)
    rank_pos = rankdata(scores[labels])
    rank_neg = rankdata(scores[~labels])
    v10 = (rank_all[labels] - rank_pos) / n  # how many negatives each positive beats (ties 1/2), as a fraction
    v01 = 1.0 - (rank_all[~labels] - rank_neg) / m  # how many positives beat each negative
    return float(v10.mean()), v10, v01


@dataclass
class DeLongResult:
    auc_a: float
    auc_b: float
    difference: float  # auc_a - auc_b
    std_error: float
    z: float
    p_value: float  # two-sided
    ci95: tuple[float, float]  # for the difference


def delong_test(labels, scores_a, scores_b) -> DeLongResult:
    """Paired two-sided test of AUC_a = AUC_b for two score vectors on the same cases."""
    auc_a, v10_a, v01_a = structural_components(labels, scores_a)
    auc_b, v10_b, v01_b = structural_components(labels, scores_b)
    m, n = len(v10_a), len(v01_a)
    s10 = np.cov(np.vstack([v10_a, v10_b])) if m > 1 else np.zeros((2, 2))
    s01 = np.cov(np.vstack([v01_a, v01_b])) if n > 1 else np.zeros((2, 2))
    cov = s10 / m + s01 / n
    contrast = np.array([1.0, -1.0])
    variance = float(contrast @ cov @ contrast)
    difference = auc_a - auc_b
    se = float(np.sqrt(max(variance, 0.0)))
    if se == 0.0:
        z, p = (0.0, 1.0) if difference == 0 else (float(np.sign(difference) * np.inf), 0.0)
    else:
        z = difference / se
        p = float(2 * norm.sf(abs(z)))
    half = 1.959963984540054 * se
    return DeLongResult(auc_a, auc_b, difference, se, z, p, (difference - half, difference + half))


def holm_adjust(p_values) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the input order; family-wise error <= alpha when
    every adjusted p < alpha is called significant.

    With the m p-values sorted ascending, p_(1) <= ... <= p_(m): adjusted_(i) = max over j <= i of
    min(1, (m - j + 1) p_(j)).
    """
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted.tolist()
