"""The report's CLAIM 2024 / TRIPOD+AI sections on one smoke-sized synthetic run: every section present, and each
number recomputed here from predictions.csv, the generator's drawn signs or the prepared data."""
import csv
import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import wilcoxon
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from femur_app.config import resolve_options
from femur_app.data.preprocess import preprocess
from femur_app.data import SyntheticSet, load, synthetic
from femur_app.evaluation.calibration import calibration, calibration_slope_intercept
from femur_app.evaluation import gallery
from femur_app.evaluation.gradcam import grad_cam
from femur_app.evaluation.predictions import Predictions
from femur_app.evaluation.independent import scope_of_test
from femur_app.evaluation.operating_point import threshold_for_sensitivity
from femur_app.models import build_model, checkpoint, radiomics
from femur_app.reporting.checklists import TRIPOD_AI
from femur_app.reporting.sections import (gradcam_baselines_lines, limitations, selection_section, slope_text_of,
                                       threshold_line)
from femur_app.reporting.setup import RunSetup
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
    def selection(**data):
        setup = RunSetup(resolve_options(quick=True, options={"data": data}), profile="quick")
        return next(line for line in selection_section(setup, 0.33) if line.startswith("- **Selection**"))

    assert "optimistically biased" in selection(synthetic_seed=1)
    assert "optimistically biased" not in selection(synthetic_seed=0)
    assert "played no part" in selection(synthetic_seed=2)


def _limitations(profile="quick", test=None, **data):
    setup = RunSetup(resolve_options(quick=profile == "quick", options={"data": data}), profile=profile)
    ev = SimpleNamespace(data_facts=SimpleNamespace(ceiling_auc=0.9, modality="MRI"), test=test, otsu_vs_truth={})
    return "\n".join(limitations(ev, setup))


def test_the_selection_limitation_only_when_the_reported_set_is_the_selection_set():
    biased = "The quick profile was chosen on the reported set"
    assert biased in _limitations(synthetic_seed=1)
    assert biased not in _limitations(synthetic_seed=0) and biased not in _limitations(synthetic_seed=2)
    assert biased not in _limitations(profile="paper", synthetic_seed=1)
    assert "reduced network" in _limitations(synthetic_seed=0)


def test_a_test_set_from_the_same_generator_or_centre_is_internal(tmp_path):
    train = SimpleNamespace(synthetic=object(), source="synthetic")
    external, words = scope_of_test(SimpleNamespace(synthetic=object(), source="synthetic:2"), train)
    assert not external and "same generator" in words
    internal = SimpleNamespace(external=False, scope=words)
    assert "No external test: the test set is internal" in _limitations(test=internal)
    assert "No external test" not in _limitations(test=SimpleNamespace(external=True, scope="external: ..."))

    def folder(name, centres):
        path = tmp_path / name
        path.mkdir()
        if centres is not None:
            (path / "import_summary.json").write_text(json.dumps({"by_centre": {c: 5 for c in centres}}))
        return SimpleNamespace(synthetic=None, source=str(path))

    a, b, c, plain = folder("a", ["1", "2"]), folder("b", ["2"]), folder("c", ["3"]), folder("plain", None)
    assert scope_of_test(b, a) == (False, "internal: it shares centre(s) 2 with the training set")
    assert scope_of_test(c, a) == (True, "external: centre(s) 3, none of them a training centre (1, 2)")
    assert scope_of_test(plain, a)[0] is False and "not known to be external" in scope_of_test(plain, a)[1]


def test_the_threshold_is_described_as_the_unweighted_loss_makes_it():
    line = threshold_line(0.5, 165 / 500)
    assert "33% of the training cases are malignant" in line and "favours specificity over sensitivity" in line
    assert "not a cut of balanced costs" in line
    assert "favours" not in threshold_line(0.5, 0.5) and "chosen by the configuration" in threshold_line(0.3, 0.33)


def test_the_report_has_no_contradictory_sentence(run):
    report = run[3]
    assert "trained with balanced costs" not in report
    assert "The quick profile was chosen on the reported set" not in report  # synthetic_seed 0
    assert "not a cut of balanced costs" in report
    assert "Any match is a coincidence, not a reproduction" in report


def test_baselines_recomputed_independently(run, tmp_path, monkeypatch):
    """The radiomics model and the exact-sign reader refitted here per fold with scikit-learn, the ceiling from
    the generator's signs, every AUC by roc_auc_score on predictions.csv's folds; the CNN's interval on the same
    draws is the summary's."""
    out, rows, metrics, report = run
    monkeypatch.setenv("FEMUR_APP_CACHE", str(tmp_path))
    data = load("synthetic", resolve_options(quick=True, config_file="femur_app/configs/smoke.toml").data)
    assert [r["case_id"] for r in rows] == data.case_ids.tolist()
    labels, folds = data.y, np.array([int(r["fold"]) for r in rows])
    features = radiomics.feature_matrix(data.X)
    signs = SyntheticSet(40, 14, 0).signs()
    exact = np.array([[np.sqrt(s.transition_mm - 0.4), s.irregularity, s.harmonics, s.heterogeneity, s.rim > 0,
                       s.oedema, s.breach, s.periosteal != "none", s.diameter_mm, s.contrast] for s in signs], float)
    radiomics_p, reader_p = np.empty(len(labels)), np.empty(len(labels))
    for fold in np.unique(folds):
        held = folds == fold
        radiomics_p[held] = (radiomics.make_classifier().fit(features[~held], labels[~held])
                             .predict_proba(features[held])[:, 1])
        reader = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(exact[~held], labels[~held])
        reader_p[held] = reader.predict_proba(exact[held])[:, 1]
    by_name = {row["name"]: row for row in metrics["baselines"]["rows"]}
    assert by_name["radiomics"]["auc"] == pytest.approx(roc_auc_score(labels, radiomics_p), abs=1e-12)
    assert by_name["sign reader"]["auc"] == pytest.approx(roc_auc_score(labels, reader_p), abs=1e-12)
    assert by_name["ceiling"]["auc"] == pytest.approx(synthetic.ceiling_auc(labels, signs), abs=1e-12)
    assert metrics["baselines"]["cnn_auc_ci95"] == pytest.approx(metrics["pooled"]["auc"]["ci95"], abs=1e-12)
    cnn = np.array([float(r["prob_malignant"]) for r in rows])
    difference = roc_auc_score(labels, cnn) - roc_auc_score(labels, radiomics_p)
    assert by_name["radiomics"]["cnn_minus_baseline"] == pytest.approx(difference, abs=1e-12)
    for name, row in by_name.items():
        low, high = row["ci95"]
        assert low <= row["auc"] <= high and 0 <= row["p_value"] <= 1, name
    assert "### Baselines on the same cases and folds" in report
    for words in ("Radiomics logistic regression", "Exact-sign reader", "The generator's ceiling"):
        line = next(line for line in report.splitlines() if line.startswith(f"| {words}"))
        name = {"Radiomics logistic regression": "radiomics", "Exact-sign reader": "sign reader",
                "The generator's ceiling": "ceiling"}[words]
        low, high = by_name[name]["ci95"]
        assert f"{by_name[name]['auc']:.3f} [{low:.3f}, {high:.3f}]" in line


def test_subgroup_intervals_and_ceilings_recomputed(run):
    """Each subgroup's AUC interval by a bootstrap written here (roc_auc_score on the same patient draws), its
    ceiling as roc_auc_score of the hidden log-likelihood ratio within the subgroup."""
    _, rows, metrics, report = run
    labels = np.array([int(r["label"]) for r in rows])
    probs = np.array([float(r["prob_malignant"]) for r in rows])
    patients = np.array([r["patient_id"] for r in rows])
    signs = SyntheticSet(40, 14, 0).signs()
    ratio = np.array([synthetic.hidden_log_likelihood_ratio(s) for s in signs])
    breach = np.array([s.breach for s in signs])
    by_name = {g["subgroup"]: g for g in metrics["subgroups"]}
    for name, held in (("cortical breach", breach), ("no cortical breach", ~breach)):
        y, p, r, ids = labels[held], probs[held], ratio[held], patients[held]
        unique = np.unique(ids)
        rng = np.random.default_rng(0)  # the run's seed
        aucs, ceilings = [], []
        for _ in range(200):  # cv.bootstrap
            drawn = np.concatenate([np.flatnonzero(ids == unique[k])
                                    for k in rng.integers(0, len(unique), len(unique))])
            if len(np.unique(y[drawn])) == 2:
                aucs.append(roc_auc_score(y[drawn], p[drawn]))
                ceilings.append(roc_auc_score(y[drawn], r[drawn]))
        assert by_name[name]["auc_ci95"] == pytest.approx(np.percentile(aucs, [2.5, 97.5]), abs=1e-12)
        assert by_name[name]["ceiling_auc"] == pytest.approx(roc_auc_score(y, r), abs=1e-12)
        assert by_name[name]["ceiling_ci95"] == pytest.approx(np.percentile(ceilings, [2.5, 97.5]), abs=1e-12)
    assert "| ceiling [95% CI] |" in report


def test_calibration_slope_interval_and_undefined():
    """The slope and its Wald interval against scikit-learn's unpenalised fit and the information matrix written
    here; near-constant predictions make it undefined, and the report says so."""
    rng = np.random.default_rng(3)
    probs = rng.uniform(0.05, 0.95, 300)
    labels = (rng.random(300) < probs ** 1.5).astype(int)
    result = calibration(labels, probs)
    z = np.log(probs / (1 - probs))
    fit = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10000).fit(z[:, None], labels)
    a, b = fit.intercept_[0], fit.coef_[0, 0]
    mu = 1 / (1 + np.exp(-(a + b * z)))
    design = np.column_stack([np.ones_like(z), z])
    se = np.sqrt(np.linalg.inv(design.T @ (design * (mu * (1 - mu))[:, None]))[1, 1])
    assert result.slope == pytest.approx(b, abs=1e-5) and result.slope_defined
    assert result.slope_ci95 == pytest.approx((b - 1.959963984540054 * se, b + 1.959963984540054 * se), abs=1e-5)
    assert "Wald 95% interval" in slope_text_of(result)
    flat = calibration(labels, 0.5 + 0.01 * (probs - 0.5))  # log-odds sd about 0.04
    assert not flat.slope_defined and np.isnan(flat.slope_ci95).all()
    assert "Calibration slope **undefined**" in slope_text_of(flat)


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


def _brute_force_threshold(labels, probs, target=0.9):
    """The largest candidate threshold (any predicted probability) whose sensitivity reaches the target."""
    malignant = probs[labels == 1]
    return max(t for t in probs if (malignant >= t).mean() >= target)


@pytest.mark.parametrize("seed", range(5))
def test_threshold_for_sensitivity_is_the_largest_that_reaches_the_target(seed):
    rng = np.random.default_rng(seed)
    labels = (rng.random(57) < 0.35).astype(int)
    probs = np.round(rng.random(57), 2)  # ties included
    assert threshold_for_sensitivity(labels, probs) == _brute_force_threshold(labels, probs)
    ten = np.array([1] * 10 + [0] * 5)  # 0.9 * 10 is 9.000000000000002: still nine of ten
    assert threshold_for_sensitivity(ten, np.r_[np.linspace(1, 0.1, 10), np.zeros(5)]) == pytest.approx(0.2)


def test_the_operating_point_is_fixed_on_each_training_fold(run):
    """Each fold's threshold recomputed from its checkpoint's predictions of its own training cases; the held-out
    calls at those thresholds recomputed from predictions.csv; nothing chosen on the reported predictions."""
    out, rows, metrics, report = run
    data = load("synthetic", resolve_options(quick=True, config_file="femur_app/configs/smoke.toml").data)
    folds = np.array([int(r["fold"]) for r in rows])
    labels = np.array([int(r["label"]) for r in rows])
    probs = np.array([float(r["prob_malignant"]) for r in rows])
    thresholds = {}
    for fold in (1, 2):
        model = checkpoint.load(out / "checkpoints" / f"fold_{fold:02d}.npz")
        train = folds != fold
        expected = _brute_force_threshold(data.y[train], model.predict(data.X[train]))
        record = json.loads((out / "folds" / f"fold_{fold:02d}.json").read_text())
        assert record["operating_threshold"] == pytest.approx(expected, abs=1e-6)
        assert model.operating_threshold == record["operating_threshold"]
        thresholds[fold] = record["operating_threshold"]
    called = probs >= np.array([thresholds[f] for f in folds])
    point = metrics["operating_point"]
    assert point["sensitivity"]["value"] == pytest.approx(called[labels == 1].mean())
    assert point["specificity"]["value"] == pytest.approx((~called[labels == 0]).mean())
    assert "### An operating point fixed in advance" in report
    assert "for sensitivity >= 90% on its training cases" in report


def test_the_report_holds_both_checklists_every_item_marked(run):
    """Each CLAIM 2024 item 1-44 and each TRIPOD+AI row once, marked done (with a section the report has), not
    done or n/a (with why); the heading's counts are the rows'."""
    report = run[3]
    headings = [line.lstrip("#").strip() for line in report.splitlines() if line.startswith("#")]
    tripod = [number for number, _, _ in TRIPOD_AI]  # its numbering checked in test_checklists.py
    for name, numbers in (("CLAIM 2024", [str(i) for i in range(1, 45)]), ("TRIPOD+AI", tripod)):
        block = report.split(f"### {name}: ")[1].split("\n\n")[1]
        rows = [line.split(" | ") for line in block.splitlines()[2:]]
        assert [row[0].lstrip("| ") for row in rows] == numbers
        assert all(row[2] in ("done", "not done", "n/a") and row[3].rstrip(" |") for row in rows)
        for row in rows:
            if row[2] == "done":
                for where in row[3].rstrip(" |").split("; "):
                    assert where == "title" or any(h.startswith(where) for h in headings), (name, row)
        counts = report.split(f"### {name}: ")[1].split("\n")[0]
        assert counts == (f"{sum(r[2] == 'done' for r in rows)} done, {sum(r[2] == 'not done' for r in rows)} not "
                          f"done, {sum(r[2] == 'n/a' for r in rows)} not applicable")
    claim = {row.split(" | ")[0].lstrip("| "): row for row in report.split("### CLAIM 2024: ")[1].splitlines()
             if row.startswith("| ")}
    assert "| not done | no test set was given" in claim["33"]


def test_gradcam_against_three_baselines_with_a_paired_test(run, tmp_path, monkeypatch):
    """Every case's share inside the lesion recomputed here: the trained fold model's and its random twin's
    Grad-CAM, the null model's (checkpoints/null.npz), and a uniform map over the ROI's non-zero pixels; the means
    and scipy's Wilcoxon p-values are metrics.json's."""
    out, rows, metrics, report = run
    monkeypatch.setenv("FEMUR_APP_CACHE", str(tmp_path))
    data = load("synthetic", resolve_options(quick=True, config_file="femur_app/configs/smoke.toml").data)
    folds = np.array([int(r["fold"]) for r in rows])
    preds = np.array([int(r["pred"]) for r in rows])
    null = checkpoint.load(out / "checkpoints" / "null.npz")
    shares = {"trained": [], "uniform over the ROI": [], "uniform over the tissue": [], "random weights": [],
              "null-trained": []}
    for fold in (1, 2):
        model = checkpoint.load(out / "checkpoints" / f"fold_{fold:02d}.npz")
        rng = np.random.default_rng(np.random.SeedSequence(0, spawn_key=(fold, 3)))
        twin = build_model(model.architecture, rng=rng, input_size=model.input_size, **model.model_kwargs)
        for i in np.flatnonzero(folds == fold):
            mask, x = data.masks[i], model.standardise(data.X[i:i + 1])
            heat = {name: grad_cam(net, standardised, preds[i:i + 1])[0] for name, net, standardised in (
                ("trained", model.model, x), ("random weights", twin, x),
                ("null-trained", null.model, null.standardise(data.X[i:i + 1])))}
            for name, h in heat.items():
                shares[name].append(h[mask].sum() / h.sum() if h.sum() > 0 else 0.0)
            shares["uniform over the ROI"].append(mask.sum() / mask.size)
            shares["uniform over the tissue"].append((mask & (data.X[i, 0] != 0)).sum() / (data.X[i, 0] != 0).sum())
    got = metrics["gradcam_baselines"]
    trained = np.array(shares["trained"])
    assert got["cases"] == len(rows) and got["trained_mean"] == pytest.approx(trained.mean(), abs=1e-6)
    assert [r["name"] for r in got["rows"]] == list(shares)[1:]
    for row in got["rows"]:
        base = np.array(shares[row["name"]])
        assert row["mean"] == pytest.approx(base.mean(), abs=1e-6), row["name"]
        assert row["difference"] == pytest.approx((trained - base).mean(), abs=1e-6)
        assert row["p_value"] == pytest.approx(wilcoxon(trained, base).pvalue, rel=1e-6), row["name"]
    assert "| the same network trained on shuffled labels (the null model) |" in report and "Wilcoxon" in report
    assert json.loads((out / "folds" / "fold_01.json").read_text())["run"] == checkpoint.load_model(
        out / "checkpoints" / "null.npz")[1]["run"]


def test_without_lesion_masks_there_is_no_gradcam_comparison(run, tmp_path, monkeypatch):
    """A fold whose cases carry no mask (a folder without mask_path) gets its gallery, and no baseline rows."""
    out, rows, _, _ = run
    monkeypatch.setenv("FEMUR_APP_CACHE", str(tmp_path))
    data = load("synthetic", resolve_options(quick=True, config_file="femur_app/configs/smoke.toml").data)
    data = dataclasses.replace(data, masks=[None] * len(data.y))
    models = {fold: checkpoint.load(out / "checkpoints" / f"fold_{fold:02d}.npz") for fold in (1, 2)}
    predictions = Predictions.read_csv(out / "predictions.csv")
    built = gallery.build(models, data, predictions, seed=0)
    assert built.baselines is None and len(built.chosen) > 0
    assert gradcam_baselines_lines(built.baselines) == []
