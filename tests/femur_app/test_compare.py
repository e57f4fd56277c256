"""femur_app.compare: every model on the same folds, one table, DeLong tests that match a recomputation."""
import csv
import math
import statistics

import numpy as np
import pytest
from scipy.stats import norm, t as student_t
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


def delong_by_hand(labels, a, b):
    """(AUC_a - AUC_b, its DeLong variance) from the Mann-Whitney kernel written out as m x n matrices - no ranks."""
    pos, neg = labels == 1, labels == 0

    def kernel(s):
        d = s[pos][:, None] - s[neg][None, :]
        return (d > 0) + 0.5 * (d == 0)

    ka, kb = kernel(a), kernel(b)
    cov = (np.cov(np.stack([ka.mean(1), kb.mean(1)])) / pos.sum()
           + np.cov(np.stack([ka.mean(0), kb.mean(0)])) / neg.sum())
    return ka.mean() - kb.mean(), cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]


def rubin_by_hand(differences, variances):
    """Rubin's rules written out: (mean difference, p, CI low, CI high)."""
    k, d = len(differences), statistics.fmean(differences)
    within, between = statistics.fmean(variances), statistics.variance(differences)
    total = within + (1 + 1 / k) * between
    df = (k - 1) * (1 + within / ((1 + 1 / k) * between)) ** 2
    half = student_t.ppf(0.975, df) * math.sqrt(total)
    return d, 2 * student_t.sf(abs(d) / math.sqrt(total), df), d - half, d + half


def test_compare_with_repetitions(tmp_path):
    """Two repetitions with the same seeds for every model; each pair tested in each repetition by DeLong and the
    two combined by Rubin's rules (recomputed here from predictions.csv with an m x n DeLong), Holm-adjusted."""
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
    runs = {}
    for m in ("alexnet_bn", "radiomics", "alexnet"):
        runs[m] = [Predictions.read_csv(out / m / f"repeat_{r:02d}" / "predictions.csv") for r in (1, 2)]
        order = np.argsort(runs[m][1].case_ids)
        np.testing.assert_array_equal(runs[m][0].case_ids, runs[m][1].case_ids[order])  # the same cases
    text = (out / "comparison.md").read_text()
    pairs = [("alexnet_bn", "radiomics"), ("alexnet_bn", "alexnet"), ("radiomics", "alexnet")]
    combined = []
    for a, b in pairs:
        each = [delong_by_hand(ra.labels, ra.probs, rb.probs) for ra, rb in zip(runs[a], runs[b])]
        for x, y in zip(runs[a], runs[b]):
            np.testing.assert_array_equal(x.case_ids, y.case_ids)
        combined.append(rubin_by_hand([d for d, _ in each], [v for _, v in each]))
        per_repetition = ", ".join(f"{d:+.3f} ({2 * norm.sf(abs(d) / math.sqrt(v)):.2g})" for d, v in each)
        d, _, low, high = combined[-1]
        assert f"| {per_repetition} |" in text and f"| {d:+.3f} [{low:+.3f}, {high:+.3f}] |" in text
    p = [c[1] for c in combined]
    for raw, adjusted in zip(p, holm_adjust(p)):
        assert f"| {raw:.3g} | {adjusted:.3g} |" in text
    assert "AUC per repetition" in text and "Holm-adjusted over the 3 test(s)" in text and "Rubin's rules" in text


def test_repeated_delong_by_hand():
    """Identical repetitions (B = 0): exactly DeLong's test of one. Repetitions whose differences are d (DeLong
    variance V) and 0 (model B equal to A: variance 0): mean d/2, W = V/2, B = d^2/2, the rest by Rubin's rules."""
    from femur_app.evaluation.repeated_delong import repeated_delong

    labels = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    a = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.7])
    b = np.array([0.3, 0.2, 0.5, 0.6, 0.4, 0.55, 0.1, 0.45])
    one = delong_test(labels, a, b)
    same = repeated_delong(labels, [a, a], [b, b])
    assert (same.difference, same.between, same.df) == (one.difference, 0.0, math.inf)
    assert same.p_value == pytest.approx(one.p_value, rel=1e-12) and same.ci95 == pytest.approx(one.ci95, rel=1e-12)
    d, v = delong_by_hand(labels, a, b)
    moved = repeated_delong(labels, [a, a], [b, a])  # repetition 2: B identical to A, difference 0, variance 0
    assert moved.per_repetition[1].difference == 0 and moved.within == pytest.approx(v / 2)
    assert moved.between == pytest.approx(d ** 2 / 2)
    assert (moved.difference, moved.p_value, *moved.ci95) == pytest.approx(rubin_by_hand([d, 0.0], [v, 0.0]))


# --- validate first (issue 29, item 7) ------------------------------------------------------------------------
@pytest.mark.parametrize("argv, line", [
    (["--models", "alexnet_bn,radiomics", "--test-data", "{tmp}/tset"],
     "error: {tmp}/tset: not found; expected a data folder"),
    (["--models", "alexnet_bn,alexnet_bn:maks"], "error: data.roi: got 'maks'"),
])
def test_every_input_is_checked_before_any_model_trains(tmp_path, capsys, monkeypatch, argv, line):
    """A typo in --test-data, or in the last model's ROI, was found only when compare reached it."""
    trained = []
    monkeypatch.setattr(compare.training, "run", lambda *args, **kwargs: trained.append(args))
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert compare.main([*argv, "--out", str(tmp_path / "cmp"), *TINY]) == 2
    err = capsys.readouterr().err
    assert err.startswith(line.format(tmp=tmp_path)) and err.count("\n") == 1, err
    assert trained == [] and not (tmp_path / "cmp").exists()
