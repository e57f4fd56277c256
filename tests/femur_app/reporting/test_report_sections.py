"""The report's CLAIM 2024 / TRIPOD+AI sections on one smoke-sized synthetic run: every section present, and each
number recomputed here from predictions.csv, the generator's drawn signs or the prepared data."""
import csv
import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from femur_app.config import resolve_options
from femur_app.data.preprocess import preprocess
from femur_app.data import SyntheticSet, load
from femur_app.evaluation.calibration import calibration_slope_intercept
from femur_app.models import checkpoint
from femur_app.train import main
from minicnn.losses import softmax

SMOKE = ["--quick", "--config", "femur_app/configs/smoke.toml", "--set", "cv.bootstrap=200"]
SECTIONS = ["## Intended use and target population", "## Data and reference standard",
            "## Partitions and patient-level disjointness", "## Model, training and selection procedure",
            "## Results", "### Calibration", "### Subgroups", "### Failure analysis", "### Where the network looked",
            "### What the paper's Otsu mask keeps and discards", "### Counterfactual sign tests", "## Limitations"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("claim")
    assert main(["--out", str(out), *SMOKE]) == 0
    with open(out / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    return out, rows, json.loads((out / "metrics.json").read_text()), (out / "report.md").read_text()


def test_every_section_in_order(run):
    report = run[3]
    positions = [report.index(heading) for heading in SECTIONS]
    assert positions == sorted(positions)
    assert "fixed in advance" in report and "bounding box" in report and "oracle" in report.lower()
    assert "by the pooled cross-validated AUC on synthetic_seed 1" in report
    assert "This run's set (synthetic_seed 0) played no part in the choice." in report


def test_a_quick_run_on_the_selection_set_is_flagged_as_biased():
    from femur_app.reporting.sections import selection_section
    from femur_app.reporting.setup import RunSetup

    def selection(**data):
        setup = RunSetup(resolve_options(quick=True, options={"data": data}), profile="quick")
        return next(line for line in selection_section(setup) if line.startswith("- **Selection**"))

    assert "optimistically biased" in selection(synthetic_seed=1)
    assert "optimistically biased" not in selection(synthetic_seed=0)
    assert "played no part" in selection(synthetic_seed=2)


def test_calibration_and_subgroups_recomputed(run):
    _, rows, metrics, _ = run
    labels = np.array([int(r["label"]) for r in rows])
    probs = np.array([float(r["prob_malignant"]) for r in rows])
    expected = calibration_slope_intercept(labels, probs)
    assert metrics["calibration"]["slope"] == pytest.approx(expected["slope"])
    assert metrics["calibration"]["intercept"] == pytest.approx(expected["intercept"])
    signs = SyntheticSet(40, 14, 0).signs()
    breach = np.array([s.breach for s in signs])
    by_name = {g["subgroup"]: g for g in metrics["subgroups"]}
    for name, held in (("cortical breach", breach), ("no cortical breach", ~breach)):
        assert by_name[name]["cases"] == held.sum() and by_name[name]["malignant"] == labels[held].sum()
        assert by_name[name]["auc"] == pytest.approx(roc_auc_score(labels[held], probs[held]))
        called = probs[held] >= 0.5
        assert by_name[name]["specificity"]["value"] == pytest.approx((~called[labels[held] == 0]).mean())
    small = np.array([s.diameter_mm <= 30 for s in signs])
    assert by_name["diameter <= 30 mm"]["cases"] == small.sum()


def test_worst_false_negatives(run):
    out, rows, metrics, report = run
    missed = sorted((float(r["prob_malignant"]), r["case_id"]) for r in rows
                    if r["label"] == "1" and r["pred"] == "0")
    assert [w["case_id"] for w in metrics["worst_false_negatives"]] == [c for _, c in missed[:6]]
    if missed:
        assert (out / "failures.png").stat().st_size > 2000 and "(failures.png)" in report


def test_gradcam_baseline_is_the_lesion_share(run, tmp_path, monkeypatch):
    """A uniform map puts the lesion's share of the ROI inside the lesion: the mean of mask.mean() per outcome."""
    _, rows, metrics, _ = run
    monkeypatch.setenv("FEMUR_APP_CACHE", str(tmp_path))
    settings = resolve_options(quick=True, config_file="femur_app/configs/smoke.toml").data
    data = load(settings.source, settings)
    outcome = {(1, 1): "TP", (0, 1): "FP", (1, 0): "FN", (0, 0): "TN"}
    shares = {}
    for r, mask in zip(rows, data.masks):
        shares.setdefault(outcome[(int(r["label"]), int(r["pred"]))], []).append(mask.mean())
    for kind, values in shares.items():
        assert metrics["gradcam_inside_lesion"][kind]["uniform"] == pytest.approx(np.mean(values))
    assert "uniform map (chance)" in run[3]


def test_counterfactual_path_reproduces_the_out_of_fold_prediction(run):
    """the case drawn again without changes + preprocess + the holding fold's model gives predictions.csv's probability, so
    the sign tests measure only the switched sign; their summary rows follow from their changes."""
    out, rows, metrics, _ = run
    for i in (0, 7):
        case = SyntheticSet(40, 14, 0).case(i)
        model, meta = checkpoint.load_model(out / "checkpoints" / f"fold_{int(rows[i]['fold']):02d}.npz")
        mean, std = meta["normalisation"]["mean"][0], meta["normalisation"]["std"][0]
        x = ((preprocess(case.image, case.box, size=40).image - mean) / std)[None, None].astype(np.float32)
        assert float(softmax(model.forward(x, train=False))[0, 1]) == pytest.approx(float(rows[i]["prob_malignant"]),
                                                                                    abs=1e-6)
    for r in metrics["counterfactual_signs"]:
        assert r["cases"] == len(r["changes"]) == 2
        assert r["mean_change"] == pytest.approx(np.mean(r["changes"]))
        direction = 1 if r["expected"] == "up" else -1
        assert r["toward_expected"] == pytest.approx(np.mean([direction * c > 0 for c in r["changes"]]))
    assert {(r["sign"], r["switch"]) for r in metrics["counterfactual_signs"]} == {
        (s, w) for s in ("cortical breach", "sclerotic rim", "periosteal reaction", "marrow oedema") for w in ("on", "off")}
