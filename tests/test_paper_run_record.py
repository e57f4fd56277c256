"""The paper profile's full-size run: docs/paper_run_record.py reads a run folder correctly (checked on a tiny run
against sklearn), and every figure docs/training.md quotes from the committed record is the one the script prints.
Nothing at full size is trained here: the record (docs/figures/paper_run.json) comes from a run of hours."""
from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from femur_app.train import main

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import paper_run_record  # noqa: E402

TINY = ["--folds", "3", "--epochs", "2", "--set", "data.n=24", "--set", "data.n_malignant=8",
        "--set", "data.input_size=40", "--set", "model.width=0.0625", "--set", "cv.bootstrap=200"]


@pytest.fixture(scope="module")
def record():
    return json.loads(paper_run_record.RECORD.read_text())


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_run")
    assert main(["--out", str(out), *TINY]) == 0
    return out


def test_collect_agrees_with_the_run_folder(tiny_run):
    collected = paper_run_record.collect(tiny_run, "0123456789abcdef", "tiny")
    with open(tiny_run / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    y = np.array([int(r["label"]) for r in rows])
    p = np.array([float(r["prob_malignant"]) for r in rows])
    fold = np.array([int(r["fold"]) for r in rows])
    assert [f["fold"] for f in collected["folds"]] == [1, 2, 3]
    for f in collected["folds"]:
        held = fold == f["fold"]
        assert f["n_test"] == held.sum() and f["n_test_malignant"] == y[held].sum() and f["epochs"] == 2
        assert f["auc"] == round(roc_auc_score(y[held], p[held]), 4)
        tn, fp, fn, tp = (f["confusion"][k] for k in ("tn", "fp", "fn", "tp"))
        assert (tp, fn) == (((p >= 0.5) & held & (y == 1)).sum(), ((p < 0.5) & held & (y == 1)).sum())
        assert f["sensitivity"] == round(tp / (tp + fn), 4) and f["specificity"] == round(tn / (tn + fp), 4)
        assert len(f["curves"]["train_loss"]) == 2
        # the probe of the final model predicts what the run predicted for the same held-out cases
        assert f["final_model"]["prob_spread"] == round(float(np.std(p[held])), 4)
        assert set(f["final_model"]["dead"]) == {f"relu{k}" for k in range(1, 8)}
    pooled = collected["pooled"]
    assert (pooled["cases"], pooled["malignant"]) == (24, 8)
    assert pooled["auc"]["value"] == round(roc_auc_score(y, p), 4)
    assert collected["profile"]["input_size"] == 40 and collected["commit"] == "0123456789abcdef"
    lines = paper_run_record.table(collected).splitlines()
    assert len(lines) == 2 + 3 + 1 and lines[-1].startswith("| pooled (3 folds, 24 cases) |")


def test_collect_refuses_a_fold_that_did_not_finish(tiny_run, tmp_path):
    shutil.copytree(tiny_run, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "folds" / "fold_02.json"
    result = json.loads(path.read_text())
    result["epochs_run"] = 1
    path.write_text(json.dumps(result))
    with pytest.raises(SystemExit, match="fold_02.json: status finished after 1 epochs"):
        paper_run_record.collect(tmp_path, "abc", "")


def test_the_record_is_the_paper_profile_at_full_size(record):
    profile = record["profile"]
    assert (profile["input_size"], profile["width"], profile["epochs"], profile["folds"]) == (224, 1, 67, 10)
    assert (profile["lr"], profile["momentum"], profile["init"], profile["init_std"]) == (0.01, 0.9, "normal", 0.01)
    assert len(record["folds"]) >= 3
    assert all(f["epochs"] == 67 and len(f["curves"]["heldout_auc"]) == 67 for f in record["folds"])
    assert record["pooled"]["cases"] == sum(f["n_test"] for f in record["folds"])


def test_training_md_quotes_the_record(record):
    text = (ROOT / "docs" / "training.md").read_text()
    assert paper_run_record.table(record) in text
    assert paper_run_record.probe_table(record) in text
    quoted = paper_run_record.numbers(record)
    assert f"commit {quoted['commit']}" in text
    assert f"{quoted['folds finished']} of the 10 folds" in text
    assert record["machine"]["cpu"] in text
    section = text[text.index("## The paper profile at full size"):]
    section = section[:section.index("\n## ", 1)]
    for name in ("fastest epoch", "slowest epoch", "initial conv1 RMS", "initial conv5 RMS", "initial logit spread",
                 "early loss, lowest fold mean", "early loss, highest fold mean", "early AUC lows", "early AUC highs"):
        assert quoted[name] in section, name
    # the loss of a constant answer at the set's prevalence, which the section compares the curves with
    prevalence = record["pooled"]["malignant"] / record["pooled"]["cases"]
    prior_loss = -(prevalence * np.log(prevalence) + (1 - prevalence) * np.log(1 - prevalence))
    assert f"{prior_loss:.3f}" in section and f"{100 * prevalence:.0f} % malignant" in section
