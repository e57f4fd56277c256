"""The independent test set of ``python -m femur_app.train --test-data``: a fresh synthetic set, and a centre
hold-out on a BTXRD-shaped miniature (train on centre 1, test on centres 2 and 3), smoke-sized."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from btxrd_miniature import jpeg_bytes, radiograph, write_table
from femur_app.config import ConfigError, resolve_options
from femur_app.data.btxrd import COLUMNS, import_btxrd
from femur_app.data import SyntheticSet, load, synthetic
from femur_app.models import checkpoint
from femur_app.train import main
from minicnn.losses import softmax

SMOKE = ["--quick", "--config", "femur_app/configs/smoke.toml", "--set", "cv.bootstrap=200"]


def ceiling_of(spec) -> float:
    return synthetic.ceiling_auc(spec.labels(), spec.signs(), spec.null)


def rows_of(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic_test")
    assert main(["--out", str(out), *SMOKE, "--test-data", "synthetic:3"]) == 0
    return out


def test_synthetic_test_set_is_the_fold_models_mean(synthetic_run):
    out = synthetic_run
    rows = rows_of(out / "test_predictions.csv")
    assert len(rows) == 40 and sum(int(r["label"]) for r in rows) == 14
    assert {r["fold"] for r in rows} == {"0"}
    assert all(r["case_id"].startswith("test-s3-case_") and r["patient_id"].startswith("test-s3-P") for r in rows)
    training_patients = {r["patient_id"] for r in rows_of(out / "predictions.csv")}
    assert training_patients.isdisjoint(r["patient_id"] for r in rows)
    # recomputed by hand: each fold's checkpoint, its own training-fold statistics, softmax, then the mean
    config = resolve_options(quick=True, config_file="femur_app/configs/smoke.toml",
                             assignments=["data.test_source=\"synthetic:3\""])
    data = load(config.data.test_source, config.data, test=True)
    probs = []
    for fold in (1, 2):
        model, meta = checkpoint.load_model(out / "checkpoints" / f"fold_{fold:02d}.npz")
        mean, std = meta["normalisation"]["mean"][0], meta["normalisation"]["std"][0]
        probs.append(softmax(model.forward(((data.X - mean) / std).astype(np.float32), train=False))[:, 1])
    expected = np.mean(probs, axis=0)
    got = np.array([float(r["prob_malignant"]) for r in rows])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert [int(r["pred"]) for r in rows] == (got >= 0.5).astype(int).tolist()
    test = json.loads((out / "metrics.json").read_text())["test"]
    labels = [int(r["label"]) for r in rows]
    assert test["pooled"]["auc"]["value"] == pytest.approx(roc_auc_score(labels, got))
    assert test["cases"] == 40 and test["shared_patients"] == []
    assert test["facts"]["ceiling_auc"] == pytest.approx(ceiling_of(SyntheticSet(40, 14, 3)))
    assert test["facts"]["ceiling_auc"] > test["pooled"]["auc"]["value"]
    report = (out / "report.md").read_text()
    assert "## Test set" in report and "mean P(malignant) of the 2 fold models" in report
    assert "disjoint from the training set by construction" in report and "(roc_test.png)" in report
    assert (out / "roc_test.png").stat().st_size > 5000


def test_small_run_stays_below_the_ceiling(synthetic_run):
    metrics = json.loads((synthetic_run / "metrics.json").read_text())
    ceiling = ceiling_of(SyntheticSet(40, 14, 0))
    assert metrics["data_facts"]["ceiling_auc"] == pytest.approx(ceiling)
    assert metrics["pooled"]["auc"]["value"] < ceiling
    assert f"**{ceiling:.3f}**" in (synthetic_run / "report.md").read_text()


@pytest.mark.parametrize("value, message", [
    ("synthetic:0", "the training set's own synthetic_seed"), ("synthetic:one", "expected a folder or synthetic:SEED")])
def test_bad_test_source_is_a_config_error(value, message):
    with pytest.raises(ConfigError, match=message):
        resolve_options(assignments=[f'data.test_source="{value}"'])


# --- a centre hold-out on a BTXRD-shaped miniature ----------------------------------------------------------
# 12 femur images of centre 1 (6 benign, 6 malignant) and 8 of centres 2 and 3; every row a different age, so
# no two rows are one stand-in patient, and every image drawn from its own seed (no hash duplicates)
CENTRES = [1] * 12 + [2] * 4 + [3] * 4
MALIGNANT = [i % 2 == 1 for i in range(20)]


def write_btxrd(root: Path, ages=None) -> Path:
    """``ages``: {row index: age} replacing the row's own (20 + index)."""
    ages = ages or {}
    folder = root / "BTXRD"
    (folder / "images").mkdir(parents=True)
    (folder / "Annotations").mkdir()
    rows = []
    for i, (centre, malignant) in enumerate(zip(CENTRES, MALIGNANT)):
        stem, width, height = f"IMG{i + 1:06d}", 150 + 3 * i, 190 + 2 * i
        (folder / "images" / f"{stem}.jpeg").write_bytes(jpeg_bytes(radiograph(100 + i, width, height), "grey"))
        subtype = "osteosarcoma" if malignant else "osteochondroma"
        x0, y0 = 30 + i, 40 + i
        shapes = [{"label": subtype, "points": [[x0 + 60, y0 + 70], [x0, y0]], "shape_type": "rectangle",
                   "group_id": None, "flags": {}},
                  {"label": subtype, "points": [[x0 + 5, y0 + 5], [x0 + 55, y0 + 5], [x0 + 30, y0 + 65]],
                   "shape_type": "polygon", "group_id": None, "flags": {}}]
        (folder / "Annotations" / f"{stem}.json").write_text(json.dumps(
            {"version": "5.1.1", "flags": {}, "shapes": shapes, "imagePath": f"{stem}.jpeg", "imageData": None,
             "imageHeight": height, "imageWidth": width}))
        flags = {"femur", "lower limb", "frontal", "tumor", subtype, "malignant" if malignant else "benign"}
        rows.append([f"{stem}.jpeg", centre, ages.get(i, 20 + i), "MF"[i % 2]] + [int(c in flags) for c in COLUMNS[4:]])
    write_table(folder / "dataset.xlsx", rows)
    return folder


def test_centre_hold_out(tmp_path):
    source = write_btxrd(tmp_path)
    train_dir, test_dir, out = tmp_path / "btxrd_c1", tmp_path / "btxrd_c23", tmp_path / "run"
    assert import_btxrd(source, train_dir, centers=[1])["images"] == 12
    assert import_btxrd(source, test_dir, centers=[2, 3])["images"] == 8
    assert main(["--out", str(out), *SMOKE, "--data", str(train_dir), "--test-data", str(test_dir)]) == 0
    test_rows = rows_of(out / "test_predictions.csv")
    assert sorted(r["case_id"] for r in test_rows) == sorted(
        r["path"].removesuffix(".png") for r in rows_of(test_dir / "labels.csv"))
    assert [int(r["label"]) for r in test_rows] == [0, 1] * 4
    assert len(rows_of(out / "predictions.csv")) == 12
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data_facts"]["modality"] == "radiograph (X-ray)"
    assert metrics["data_facts"]["ceiling_auc"] is None and metrics["test"]["shared_patients"] == []
    report = (out / "report.md").read_text()
    assert "Modality**: radiograph (X-ray)" in report and "stand-in patients formed by the importer" in report
    assert "## Test set" in report and str(test_dir.resolve()) in report


def test_btxrd_checks_and_a_planted_duplicate(tmp_path, capsys):
    """Train on centres 1 and 2, test on centre 3, where IMG000017 is a byte copy of centre 1's IMG000001 (resized
    annotation): the run names that pair (stderr, train.log, metrics.json, report). IMG000002 and IMG000004 (both
    malignant, F, age 21, not neighbours) are one coarse group but two stand-in patients. The per-centre table, the
    centre-only baseline, the subtypes and both groupings' AUCs are recomputed here from predictions.csv."""
    source = write_btxrd(tmp_path, ages={3: 21})
    (source / "images" / "IMG000017.jpeg").write_bytes((source / "images" / "IMG000001.jpeg").read_bytes())
    note = json.loads((source / "Annotations" / "IMG000017.json").read_text())
    note.update(imageWidth=150, imageHeight=190)
    (source / "Annotations" / "IMG000017.json").write_text(json.dumps(note))
    train_dir, test_dir, out = tmp_path / "c12", tmp_path / "c3", tmp_path / "run"
    import_btxrd(source, train_dir, centers=[1, 2])
    import_btxrd(source, test_dir, centers=[3])
    capsys.readouterr()
    assert main(["--out", str(out), *SMOKE, "--data", str(train_dir), "--test-data", str(test_dir)]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: --test-data")]
    assert len(warning) == 1 and "1 training/test image pair(s) are near duplicates" in warning[0]
    assert "images/IMG000001 ~ images/IMG000017 (0 bits)" in warning[0]
    assert "images/IMG000001 ~ images/IMG000017 (0 bits)" in (out / "train.log").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["near_duplicates"] == [
        {"train_case": "images/IMG000001", "test_case": "images/IMG000017", "distance": 0}]
    report = (out / "report.md").read_text()
    assert "| images/IMG000001 | images/IMG000017 | 0 |" in report

    rows = {r["case_id"]: r for r in rows_of(out / "predictions.csv")}
    table = {r["path"].removesuffix(".png"): r for r in rows_of(train_dir / "labels.csv")}
    ids = sorted(rows)
    y = np.array([int(rows[c]["label"]) for c in ids])
    p = np.array([float(rows[c]["prob_malignant"]) for c in ids])
    fold = np.array([int(rows[c]["fold"]) for c in ids])
    centre = np.array([table[c]["center"] for c in ids])
    # per centre: centre 1 holds rows 0-11 (6 malignant), centre 2 rows 12-15 (13 and 15 malignant)
    assert "| 1 | 12 | 6 | 50.0 |" in report and "| 2 | 4 | 2 | 50.0 |" in report
    scores = np.array([y[(fold != fold[i]) & (centre == centre[i])].mean() for i in range(len(ids))])
    checks = metrics["btxrd"]
    assert checks["centre_only_auc"]["value"] == pytest.approx(roc_auc_score(y, scores))
    assert f"AUC {roc_auc_score(y, scores):.3f} [" in report
    for subtype, label in (("osteosarcoma", 1), ("osteochondroma", 0)):
        correct = int(((p >= 0.5) == bool(label))[y == label].sum())
        assert f"| {subtype} | {'malignant' if label else 'benign'} | 8 | {correct} |" in report
    # both groupings: stand-in patients are single images; the coarse grouping joins IMG000002 and IMG000004
    standin, coarse = checks["groupings"]
    assert (standin["used_by_run"], standin["groups"], standin["images_per_group"]) == (True, 16, {"1": 16})
    assert (coarse["used_by_run"], coarse["groups"], coarse["images_per_group"]) == (False, 15, {"1": 14, "2": 1})
    assert standin["clean_cases"] == 16 and standin["clean_auc"]["value"] == pytest.approx(roc_auc_score(y, p))
    split = fold[ids.index("images/IMG000002")] != fold[ids.index("images/IMG000004")]
    clean = np.array([not (split and c in ("images/IMG000002", "images/IMG000004")) for c in ids])
    assert coarse["clean_cases"] == clean.sum()
    assert coarse["clean_auc"]["value"] == pytest.approx(roc_auc_score(y[clean], p[clean]))
    assert "## BTXRD: centres, subtypes and patient grouping" in report
    assert f"| {clean.sum()} | {roc_auc_score(y[clean], p[clean]):.3f} [" in report
