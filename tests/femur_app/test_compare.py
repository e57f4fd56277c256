"""femur_app.compare: every model on the same folds, one table, DeLong tests that match a recomputation."""
import csv

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from femur_app import compare
from femur_app.evaluation.delong import delong_test
from femur_app.reporting.comparison import check_same_folds
from femur_app.reporting.predictions import Predictions

TINY = ["--folds", "3", "--epochs", "1", "--set", "data.n=24", "--set", "data.n_malignant=8",
        "--set", "data.input_size=64", "--set", "model.width=0.0625", "--set", "cv.bootstrap=100"]


def test_compare_runs_every_model_on_the_same_folds(tmp_path):
    out = tmp_path / "cmp"
    assert compare.main(["--models", "alexnet_bn,googlenet,radiomics", "--out", str(out), *TINY]) == 0
    runs = {m: Predictions.read_csv(out / m / "predictions.csv") for m in ("alexnet_bn", "googlenet", "radiomics")}
    for run in runs.values():
        np.testing.assert_array_equal(run.folds, runs["alexnet_bn"].folds)
    text = (out / "comparison.md").read_text()
    for m in ("googlenet", "radiomics"):
        r = delong_test(runs["alexnet_bn"].labels, runs["alexnet_bn"].probs, runs[m].probs)
        assert f"{r.p_value:.3g} |" in text
        assert r.auc_b == pytest.approx(roc_auc_score(runs[m].labels, runs[m].probs))
    with open(out / "comparison.csv", newline="") as f:
        rows = {r["model"]: r for r in csv.DictReader(f)}
    assert float(rows["radiomics"]["auc"]) == pytest.approx(roc_auc_score(runs["radiomics"].labels, runs["radiomics"].probs))
    # GoogLeNet's settings reached its run, and its gallery used its own Grad-CAM layer (inception5b, not conv5)
    assert 'l2_layers = []' in (out / "googlenet" / "config.toml").read_text()
    assert (out / "googlenet" / "gallery.png").stat().st_size > 5000
    assert (out / "roc_all.png").stat().st_size > 5000


def test_mismatched_folds_are_refused():
    a = Predictions(np.array(["a", "b"]), np.array(["p", "q"]), np.array([1, 2]), np.array([0, 1]), np.zeros(2), 0.5)
    b = Predictions(a.case_ids, a.patient_ids, np.array([2, 1]), a.labels, a.probs, 0.5)
    with pytest.raises(ValueError, match="y and x differ in their folds column"):
        check_same_folds({"x": a, "y": b})


def test_unknown_model(capsys):
    assert compare.main(["--models", "alexnet_bn,vgg"]) == 2
    assert capsys.readouterr().err == ("error: --models alexnet_bn,vgg: not two or more known models "
                                       "(expected two or more of alexnet_bn, alexnet, googlenet, radiomics)\n")
