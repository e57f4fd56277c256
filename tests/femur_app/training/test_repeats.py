"""Repeated cross-validation (--repeats K): new split and initialisation per repetition, each repetition's pooled
AUC and accuracy recomputed from its own predictions.csv, and an interval that holds training variance."""
import json
import statistics

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from femur_app.evaluation.predictions import Predictions
from femur_app.train import main
from femur_app.evaluation.repeats import two_level_bootstrap
from femur_app.training.repeats import repetition_seed


def test_repeated_run(tmp_path):
    argv = ["--out", str(tmp_path), "--quick", "--config", "femur_app/configs/smoke.toml", "--repeats", "2",
            "--set", "cv.bootstrap=300"]
    assert main(argv) == 0
    runs = [Predictions.read_csv(tmp_path / f"repeat_{r:02d}" / "predictions.csv") for r in (1, 2)]
    assert not np.array_equal(runs[0].folds, runs[1].folds)  # a new split
    assert "seed = 0" in (tmp_path / "repeat_01" / "config.toml").read_text()  # repetition 1 is the plain run
    assert f"seed = {repetition_seed(0, 2)}" in (tmp_path / "repeat_02" / "config.toml").read_text()
    summary = json.loads((tmp_path / "metrics.json").read_text())["repeats"]
    aucs = [roc_auc_score(r.labels, r.probs) for r in runs]
    accuracies = [float(((r.probs >= 0.5) == r.labels).mean()) for r in runs]
    assert [row["auc"] for row in summary["repetitions"]] == pytest.approx(aucs)
    assert [row["accuracy"] for row in summary["repetitions"]] == pytest.approx(accuracies)
    assert summary["mean_sd"]["auc"]["mean"] == pytest.approx(statistics.fmean(aucs))
    assert summary["mean_sd"]["auc"]["sd"] == pytest.approx(statistics.stdev(aucs))
    assert summary["averaged_auc"] == pytest.approx(roc_auc_score(runs[0].labels, (runs[0].probs + runs[1].probs) / 2))
    lo, hi = summary["ci95_with_training_variance"]["auc"]
    assert 0 <= lo <= min(aucs) and max(aucs) <= hi <= 1
    report = (tmp_path / "report.md").read_text()
    assert "two-level bootstrap" in report and "(repeat_02/report.md)" in report


def test_two_level_bootstrap_holds_the_spread_between_trainings():
    """One repetition ranks perfectly (AUC 1 on every sample), the other perfectly wrong (AUC 0): each alone has
    a degenerate interval, the two together span [0, 1]; identical repetitions give the single-run interval's
    degenerate [1, 1]."""
    labels = np.array([0, 1] * 10)
    right = labels * 0.8 + 0.1
    wrong = 1 - right
    patients = np.arange(20)
    mixed = two_level_bootstrap(labels, [right, wrong], patients, 0.5, 400, seed=3)
    assert mixed.auc == (0.0, 1.0) and mixed.accuracy == (0.0, 1.0)
    assert two_level_bootstrap(labels, [right, right], patients, 0.5, 400, seed=3).auc == (1.0, 1.0)


def test_the_top_folder_of_a_repeated_run_is_locked(tmp_path):
    """Another run holding the top folder: the repeated run refuses before it writes or trains anything."""
    from femur_app.config import resolve
    from femur_app.errors import UserError
    from femur_app.training.repeats import run_repeated
    from femur_app.training.run_folder import lock

    config = resolve()
    trained = []
    with lock(tmp_path / "run", "repeats"):
        with pytest.raises(UserError, match=r"in use by another run \(pid \d+"):
            run_repeated(config, tmp_path / "run", lambda c, d: trained.append(d))
    assert trained == [] and not (tmp_path / "run" / "config.toml").exists()
