"""Expected calibration error on hand-computed examples."""
import numpy as np
import pytest

from femur_app.evaluation.calibration import reliability
from femur_app.reporting.plots import plot_reliability


def test_hand_computed_ece():
    # bin (0.1, 0.2]: p = 0.15, 0.15 with labels 0, 1 -> observed 0.5, predicted 0.15, weight 2/5
    # bin (0.8, 0.9]: p = 0.85 x3 with labels 1, 1, 1 -> observed 1.0, predicted 0.85, weight 3/5
    rel = reliability([0, 1, 1, 1, 1], [0.15, 0.15, 0.85, 0.85, 0.85], n_bins=10)
    assert rel.ece == pytest.approx(2 / 5 * 0.35 + 3 / 5 * 0.15)
    assert rel.counts.tolist() == [0, 2, 0, 0, 0, 0, 0, 0, 3, 0]
    assert np.isnan(rel.mean_predicted[0]) and rel.observed_fraction[8] == 1.0


def test_calibrated_by_construction_has_small_ece(tmp_path):
    rng = np.random.default_rng(80)
    p = rng.uniform(0, 1, 200_000)
    labels = (rng.uniform(0, 1, p.size) < p).astype(int)
    rel = reliability(labels, p)
    assert rel.ece < 0.005
    plot_reliability(rel, tmp_path / "rel.png")
    assert (tmp_path / "rel.png").stat().st_size > 1000


def test_edges_and_errors():
    rel = reliability([0, 1], [0.0, 1.0], n_bins=4)  # 0 goes to the first bin, 1 to the last
    assert rel.counts.tolist() == [1, 0, 0, 1] and rel.ece == 0.0
    with pytest.raises(ValueError, match=r"probabilities must lie in \[0, 1\], got \[-0.1, 0.5\]"):
        reliability([0, 1], [-0.1, 0.5])


def test_calibration_slope_by_hand():
    # two predicted values, so the two-parameter model is saturated: it fits each group's observed fraction.
    # p = 0.2 (logit ln 1/4) on 4 cases, 1 malignant (0.25, logit ln 1/3); p = 0.6 (logit ln 3/2) on 5 cases,
    # 4 malignant (0.8, logit ln 4): slope = (ln 4 - ln 1/3) / (ln 3/2 - ln 1/4) = ln 12 / ln 6
    from femur_app.evaluation.calibration import calibration_slope_intercept

    labels = [1, 0, 0, 0, 1, 1, 1, 1, 0]
    probs = [0.2] * 4 + [0.6] * 5
    assert calibration_slope_intercept(labels, probs)["slope"] == pytest.approx(np.log(12) / np.log(6), abs=1e-9)


def test_calibration_intercept_by_hand_and_by_scipy():
    from scipy.optimize import minimize_scalar

    from femur_app.evaluation.calibration import calibration_slope_intercept

    # one predicted value 0.2 and an observed 2/5: a = logit(0.4) - logit(0.2) = ln(2/3) - ln(1/4) = ln(8/3)
    assert calibration_slope_intercept([1, 1, 0, 0, 0], [0.2] * 5)["intercept"] == pytest.approx(np.log(8 / 3))
    rng = np.random.default_rng(7)
    probs = rng.uniform(0.05, 0.95, 37)
    labels = (rng.uniform(size=37) < probs ** 2).astype(int)  # too high predictions: intercept < 0
    z = np.log(probs / (1 - probs))

    def negative_log_likelihood(a):
        eta = a + z
        return float(np.sum(np.logaddexp(0, eta) - labels * eta))

    oracle = minimize_scalar(negative_log_likelihood, bounds=(-10, 10), method="bounded",
                             options={"xatol": 1e-10}).x
    result = calibration_slope_intercept(labels, probs)
    assert result["intercept"] == pytest.approx(oracle, abs=1e-6) and result["intercept"] < 0


def test_calibrated_by_construction_slope_one_intercept_zero():
    from femur_app.evaluation.calibration import calibration_slope_intercept

    rng = np.random.default_rng(81)
    p = rng.uniform(0.01, 0.99, 100_000)
    result = calibration_slope_intercept((rng.uniform(size=p.size) < p).astype(int), p)
    assert abs(result["slope"] - 1) < 0.03 and abs(result["intercept"]) < 0.03
    separated = calibration_slope_intercept([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])  # perfect separation: no MLE
    assert np.isnan(separated["slope"])
