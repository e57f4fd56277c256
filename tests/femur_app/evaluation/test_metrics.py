"""femur_app.evaluation.metrics: hand-checked figures, and every number of a run's metrics.json recomputed from its
predictions.csv by independent code (loops, textbook formulas, pairwise AUC)."""
import csv
import json
import math
import statistics

import numpy as np
import pytest

from femur_app.evaluation.metrics import Confusion, auc, mean_sd, summarize, wilson
from femur_app.train import main


def test_confusion_and_rates_by_hand():
    labels = [1, 1, 1, 0, 0, 0, 0, 1]
    preds = [1, 0, 1, 0, 1, 0, 0, 1]
    c = Confusion.of(labels, preds)
    assert (c.tn, c.fp, c.fn, c.tp) == (3, 1, 1, 3)
    assert c.rates() == {"accuracy": 0.75, "precision": 0.75, "sensitivity": 0.75, "specificity": 0.75, "f1": 0.75}
    skewed = Confusion(tn=50, fp=10, fn=5, tp=35).rates()
    assert skewed["precision"] == 35 / 45 and skewed["sensitivity"] == 35 / 40 and skewed["specificity"] == 50 / 60
    harmonic = 2 * skewed["precision"] * skewed["sensitivity"] / (skewed["precision"] + skewed["sensitivity"])
    assert skewed["f1"] == pytest.approx(harmonic, rel=1e-15)


def test_undefined_rates_are_nan_and_f1_is_zero_without_true_positives():
    rates = Confusion(tn=6, fp=0, fn=4, tp=0).rates()  # everything called benign
    assert math.isnan(rates["precision"]) and rates["sensitivity"] == 0.0 and rates["f1"] == 0.0


@pytest.mark.parametrize("k, n, lo, hi", [  # Newcombe (1998), Stat Med 17:857, table I, method 3
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)])
def test_wilson_matches_newcombe(k, n, lo, hi):
    assert wilson(k, n) == pytest.approx((lo, hi), abs=5e-5)


def test_wilson_ends_are_exact():
    assert wilson(40, 40)[1] == 1.0 and wilson(0, 40)[0] == 0.0
    assert all(math.isnan(v) for v in wilson(0, 0))


def test_auc_is_the_mann_whitney_probability():
    labels = np.array([0, 0, 1, 1, 0, 1])
    probs = np.array([0.1, 0.4, 0.35, 0.8, 0.8, 0.9])  # one tie between classes counts one half
    assert auc(labels, probs) == pytest.approx(pairwise_auc(labels, probs)) == pytest.approx(6.5 / 9)
    assert math.isnan(auc([1, 1], [0.2, 0.3]))


def test_mean_sd_skips_undefined_folds():
    summary = mean_sd([0.5, math.nan, 0.7])
    assert (summary.mean, summary.sd, summary.folds) == (pytest.approx(0.6), pytest.approx(math.sqrt(0.02)), 2)


def test_pooled_confusion_is_the_sum_of_the_folds():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 90)
    probs = np.clip(0.5 * labels + rng.normal(0.25, 0.25, 90), 0, 1)
    folds = np.repeat([1, 2, 3], 30)
    m = summarize(labels, probs, folds, np.arange(90).astype(str), threshold=0.5, bootstrap_replicates=50, seed=0)
    total = sum((f.confusion for f in m.per_fold), Confusion(0, 0, 0, 0))
    assert total == m.pooled.confusion
    assert (m.bootstrap.replicates, m.bootstrap.skipped, m.bootstrap.seed) == (50, 0, 0)


# --- a real run, recomputed ----------------------------------------------------------------------------------
def pairwise_auc(labels, probs) -> float:
    pos = [p for p, y in zip(probs, labels) if y == 1]
    neg = [p for p, y in zip(probs, labels) if y == 0]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def counts(rows):
    tp = sum(1 for r in rows if r["label"] == 1 and r["pred"] == 1)
    tn = sum(1 for r in rows if r["label"] == 0 and r["pred"] == 0)
    fp = sum(1 for r in rows if r["label"] == 0 and r["pred"] == 1)
    fn = sum(1 for r in rows if r["label"] == 1 and r["pred"] == 0)
    return tn, fp, fn, tp


def textbook_wilson(k, n, z=1.959963984540054):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def rates_of(tn, fp, fn, tp):
    def div(a, b):
        return a / b if b else None
    return {"accuracy": div(tp + tn, tp + tn + fp + fn), "precision": div(tp, tp + fp),
            "sensitivity": div(tp, tp + fn), "specificity": div(tn, tn + fp), "f1": div(2 * tp, 2 * tp + fp + fn)}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FEMUR_APP_CACHE", str(tmp_path_factory.mktemp("cache")))
        assert main(["--out", str(out), "--folds", "3", "--epochs", "3", "--set", "data.n=30",
                     "--set", "data.n_malignant=10", "--set", "data.input_size=40", "--set", "model.width=0.0625",
                     "--set", "train.init=\"he\"", "--set", "cv.threshold=0.3", "--set", "cv.bootstrap=300"]) == 0
    return out


def test_metrics_json_recomputed_from_predictions_csv(run_dir):
    with open(run_dir / "predictions.csv") as f:
        rows = [{**r, "label": int(r["label"]), "pred": int(r["pred"]), "fold": int(r["fold"]),
                 "prob": float(r["prob_malignant"])} for r in csv.DictReader(f)]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    threshold = metrics["threshold"]
    assert threshold == 0.3 and len(rows) == metrics["cases"] == 30
    assert all(r["pred"] == int(r["prob"] >= threshold) for r in rows)
    assert metrics["malignant"] == sum(r["label"] for r in rows) == 10
    assert metrics["patients"] == len({r["patient_id"] for r in rows})

    tn, fp, fn, tp = counts(rows)
    assert min(tn, fp, fn, tp) > 0  # the tiny run fills every cell, so no rate is trivially 0, 1 or undefined
    pooled = metrics["pooled"]
    assert pooled["confusion"] == {"tn": tn, "fp": fp, "fn": fn, "tp": tp}
    expected = rates_of(tn, fp, fn, tp)
    trials = {"accuracy": (tp + tn, len(rows)), "precision": (tp, tp + fp), "sensitivity": (tp, tp + fn),
              "specificity": (tn, tn + fp)}
    for name, (k, n) in trials.items():
        assert pooled[name]["value"] == pytest.approx(expected[name], rel=1e-12)
        if n:
            assert pooled[name]["ci95"] == pytest.approx(textbook_wilson(k, n), abs=1e-12)
    assert pooled["f1"]["value"] == pytest.approx(expected["f1"], rel=1e-12)
    labels, probs = [r["label"] for r in rows], [r["prob"] for r in rows]
    assert pooled["auc"]["value"] == pytest.approx(pairwise_auc(labels, probs), rel=1e-12)

    # the patient bootstrap, redone as the metrics module documents it
    patients = sorted({r["patient_id"] for r in rows})
    rng = np.random.default_rng(metrics["bootstrap"]["seed"])
    aucs, f1s = [], []
    for _ in range(metrics["bootstrap"]["replicates"]):
        drawn = rng.integers(0, len(patients), len(patients))
        sample = [r for p in drawn for r in rows if r["patient_id"] == patients[p]]
        if len({r["label"] for r in sample}) < 2:
            continue
        aucs.append(pairwise_auc([r["label"] for r in sample], [r["prob"] for r in sample]))
        f1s.append(rates_of(*counts(sample))["f1"])
    assert metrics["bootstrap"]["skipped"] == metrics["bootstrap"]["replicates"] - len(aucs)
    assert pooled["auc"]["ci95"] == pytest.approx(list(np.percentile(aucs, [2.5, 97.5])), abs=1e-12)
    assert pooled["f1"]["ci95"] == pytest.approx(list(np.percentile(f1s, [2.5, 97.5])), abs=1e-12)

    # per fold, and mean +- sd over folds
    for entry in metrics["per_fold"]:
        fold_rows = [r for r in rows if r["fold"] == entry["fold"]]
        ftn, ffp, ffn, ftp = counts(fold_rows)
        assert entry["confusion"] == {"tn": ftn, "fp": ffp, "fn": ffn, "tp": ftp}
        assert entry["cases"] == len(fold_rows) and entry["malignant"] == sum(r["label"] for r in fold_rows)
        for name, value in rates_of(ftn, ffp, ffn, ftp).items():
            assert entry[name] == (None if value is None else pytest.approx(value, rel=1e-12))
        assert entry["auc"] == pytest.approx(pairwise_auc([r["label"] for r in fold_rows],
                                                          [r["prob"] for r in fold_rows]), rel=1e-12)
    for name, summary in metrics["fold_mean_sd"].items():
        values = [f[name] for f in metrics["per_fold"] if f[name] is not None]
        assert summary["folds"] == len(values)
        if values:
            assert summary["mean"] == pytest.approx(statistics.fmean(values), rel=1e-12)
        if len(values) > 1:
            assert summary["sd"] == pytest.approx(statistics.stdev(values), rel=1e-9)


def test_calibration_in_metrics_json_recomputed(run_dir):
    """ECE from predictions.csv with ten (lo, hi] bins written out by hand (0 goes to the first bin)."""
    with open(run_dir / "predictions.csv") as f:
        rows = [(int(r["label"]), float(r["prob_malignant"])) for r in csv.DictReader(f)]
    bins = [[] for _ in range(10)]
    for label, p in rows:
        bins[max(0, min(9, math.ceil(p * 10) - 1))].append((label, p))
    ece = sum(len(b) / len(rows) * abs(statistics.fmean(l for l, _ in b) - statistics.fmean(p for _, p in b))
              for b in bins if b)
    calibration = json.loads((run_dir / "metrics.json").read_text())["calibration"]
    assert calibration["counts"] == [len(b) for b in bins]
    assert calibration["ece"] == pytest.approx(ece, rel=1e-9)
    assert "Expected calibration error" in (run_dir / "report.md").read_text()


def test_gradcam_share_inside_lesion_covers_every_case(run_dir):
    """Every synthetic case has a true mask, so every held-out case contributes once, under its own outcome."""
    with open(run_dir / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    summary = json.loads((run_dir / "metrics.json").read_text())["gradcam_inside_lesion"]
    expected = {"TP": (1, 1), "FP": (0, 1), "FN": (1, 0), "TN": (0, 0)}
    for kind, (label, pred) in expected.items():
        n = sum(1 for r in rows if (int(r["label"]), int(r["pred"])) == (label, pred))
        assert summary[kind]["cases"] == n
        assert summary[kind]["mean"] is None if n == 0 else 0.0 <= summary[kind]["mean"] <= 1.0
    assert "mean share inside the lesion" in (run_dir / "report.md").read_text()


def test_roi_mask_follows_the_image_geometry():
    """A lesion mask carried through crop + square padding + resize lands where the lesion's pixels land."""
    from femur_app.data.preprocess import crop_with_margin, resize, roi_mask

    image = np.zeros((100, 160), np.float32)
    mask = np.zeros((100, 160), bool)
    mask[40:60, 70:100] = True
    image[mask] = 1.0
    box = (70, 40, 100, 60)
    carried = roi_mask(mask, box, 32, 20)
    resized_image = resize(crop_with_margin(image, box, 20)[0], 32) > 0.5
    np.testing.assert_array_equal(carried, resized_image)
    assert carried.sum() > 0
