"""femur_app.compare: every model on the same folds, one table, DeLong tests that match a recomputation."""
import csv

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from femur_app import compare
from femur_app.evaluation.delong import delong_test

TINY = ["--folds", "3", "--epochs", "1", "--set", "data.n=24", "--set", "data.n_malignant=8",
        "--set", "data.input_size=64", "--set", "model.width=0.0625", "--set", "cv.bootstrap=100"]


def test_compare_runs_every_model_on_the_same_folds(tmp_path):
    out = tmp_path / "cmp"
    assert compare.main(["--models", "alexnet_bn,googlenet,radiomics", "--out", str(out), *TINY]) == 0
    runs = {m: compare.read_predictions(out / m) for m in ("alexnet_bn", "googlenet", "radiomics")}
    for run in runs.values():
        np.testing.assert_array_equal(run["fold"], runs["alexnet_bn"]["fold"])
    text = (out / "comparison.md").read_text()
    for m in ("googlenet", "radiomics"):
        r = delong_test(runs["alexnet_bn"]["label"], runs["alexnet_bn"]["prob"], runs[m]["prob"])
        assert f"{r.p_value:.3g} |" in text
        assert r.auc_b == pytest.approx(roc_auc_score(runs[m]["label"], runs[m]["prob"]))
    with open(out / "comparison.csv", newline="") as f:
        rows = {r["model"]: r for r in csv.DictReader(f)}
    assert float(rows["radiomics"]["auc"]) == pytest.approx(roc_auc_score(runs["radiomics"]["label"], runs["radiomics"]["prob"]))
    assert (out / "roc_all.png").stat().st_size > 5000


def test_mismatched_folds_are_refused():
    a = {"case_id": np.array(["a", "b"]), "fold": np.array([1, 2]), "label": np.array([0, 1]), "prob": np.zeros(2)}
    b = {**a, "fold": np.array([2, 1])}
    with pytest.raises(ValueError, match="y and x differ in their fold column"):
        compare.check_same_folds({"x": a, "y": b})


def test_unknown_model(capsys):
    assert compare.main(["--models", "alexnet_bn,vgg"]) == 2
    assert "--models needs two or more of" in capsys.readouterr().err
