"""femur_app.compare: every model on the same folds, one table, DeLong tests that match a recomputation."""
import csv

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from femur_app import compare
from femur_app.evaluation.delong import delong_test
from femur_app.reporting.comparison import check_same_folds
from femur_app.evaluation.predictions import Predictions

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


def test_holm_by_hand():
    from femur_app.evaluation.delong import holm_adjust

    # sorted 0.01, 0.03, 0.04 (m = 3): 3 x 0.01 = 0.03; 2 x 0.03 = 0.06; 1 x 0.04 = 0.04 -> raised to 0.06
    assert holm_adjust([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert holm_adjust([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm_adjust([0.2]) == pytest.approx([0.2]) and holm_adjust([]) == []


def test_compare_with_repetitions(tmp_path):
    """Two repetitions with the same seeds for both models; every pair tested once, Holm-adjusted."""
    from femur_app.evaluation.delong import holm_adjust

    out = tmp_path / "cmp"
    assert compare.main(["--models", "alexnet_bn,radiomics,alexnet", "--out", str(out), "--repeats", "2", *TINY]) == 0
    for m in ("alexnet_bn", "radiomics", "alexnet"):
        assert {p.name for p in (out / m).iterdir()} >= {"repeat_01", "repeat_02", "metrics.json", "report.md"}
    folds = {m: [Predictions.read_csv(out / m / f"repeat_{r:02d}" / "predictions.csv").folds for r in (1, 2)]
             for m in ("alexnet_bn", "radiomics")}
    for r in (0, 1):
        np.testing.assert_array_equal(folds["alexnet_bn"][r], folds["radiomics"][r])
    assert not np.array_equal(folds["alexnet_bn"][0], folds["alexnet_bn"][1])  # a new split per repetition
    averaged = {}
    for m in ("alexnet_bn", "radiomics", "alexnet"):
        runs = [Predictions.read_csv(out / m / f"repeat_{r:02d}" / "predictions.csv") for r in (1, 2)]
        order = np.argsort(runs[1].case_ids)
        np.testing.assert_array_equal(runs[0].case_ids, runs[1].case_ids[order])
        averaged[m] = (runs[0].labels, (runs[0].probs + runs[1].probs[order]) / 2)
    pairs = [("alexnet_bn", "radiomics"), ("alexnet_bn", "alexnet"), ("radiomics", "alexnet")]
    p = [delong_test(averaged[a][0], averaged[a][1], averaged[b][1]).p_value for a, b in pairs]
    text = (out / "comparison.md").read_text()
    for raw, adjusted in zip(p, holm_adjust(p)):
        assert f"| {raw:.3g} | {adjusted:.3g} |" in text
    assert "AUC per repetition" in text and "Holm-adjusted over the 3 test(s)" in text
