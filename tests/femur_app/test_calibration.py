"""Expected calibration error on hand-computed examples."""
import numpy as np
import pytest

from femur_app.evaluation.calibration import plot_reliability, reliability


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
