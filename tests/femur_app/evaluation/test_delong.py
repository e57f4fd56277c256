"""DeLong's test against the O(m n) definition written out in loops, and against scikit-learn's AUC."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from femur_app.evaluation.delong import delong_test, structural_components


def naive_components(labels, scores):
    pos, neg = scores[labels == 1], scores[labels == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)


def test_components_and_auc_match_the_definition_with_ties():
    rng = np.random.default_rng(70)
    labels = rng.integers(0, 2, 57)
    scores = rng.integers(0, 8, 57) / 8.0  # many ties
    auc, v10, v01 = structural_components(labels, scores)
    auc_ref, v10_ref, v01_ref = naive_components(labels, scores)
    assert auc == pytest.approx(auc_ref, abs=1e-12) and auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    np.testing.assert_allclose(v10, v10_ref, atol=1e-12)
    np.testing.assert_allclose(v01, v01_ref, atol=1e-12)


def test_variance_matches_the_formula_and_a_bootstrap():
    rng = np.random.default_rng(71)
    labels = np.r_[np.ones(60, int), np.zeros(90, int)]
    signal = labels * 1.0
    a = signal + rng.standard_normal(150)
    b = 0.6 * signal + rng.standard_normal(150) + 0.5 * (a - signal)  # correlated with a
    result = delong_test(labels, a, b)
    _, v10a, v01a = naive_components(labels, a)
    _, v10b, v01b = naive_components(labels, b)
    var = (np.var(v10a - v10b, ddof=1) / 60) + (np.var(v01a - v01b, ddof=1) / 90)
    assert result.std_error == pytest.approx(np.sqrt(var), rel=1e-10)
    diffs = []
    for _ in range(1000):
        pos = rng.choice(60, 60)
        neg = 60 + rng.choice(90, 90)
        idx = np.r_[pos, neg]
        diffs.append(roc_auc_score(labels[idx], a[idx]) - roc_auc_score(labels[idx], b[idx]))
    assert result.std_error == pytest.approx(np.std(diffs), rel=0.15)  # stratified bootstrap agrees to ~10%


def test_identical_scores_and_single_class():
    labels = np.array([0, 1, 0, 1, 1])
    s = np.array([0.1, 0.9, 0.4, 0.3, 0.8])
    r = delong_test(labels, s, s)
    assert (r.difference, r.std_error, r.p_value) == (0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="needs both classes, got 0 positives and 3 negatives"):
        delong_test([0, 0, 0], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
