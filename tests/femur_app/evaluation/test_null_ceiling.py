"""The whole pipeline (smoke-sized) against what the synthetic generator knows: a null set (no class signal)
gives an AUC interval containing 0.5 and a ceiling of exactly 0.5. (That a small run on a real set stays below
its ceiling is checked on the run of tests/femur_app/evaluation/test_test_set.py, to train one smoke run fewer.)"""
import json

import pytest

from femur_app.train import main

SMOKE = ["--quick", "--config", "femur_app/configs/smoke.toml", "--set", "cv.bootstrap=500"]


def test_null_set_through_the_whole_pipeline(tmp_path):
    assert main(["--out", str(tmp_path), *SMOKE, "--set", "data.null=true"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    low, high = metrics["pooled"]["auc"]["ci95"]
    assert low <= 0.5 <= high
    assert metrics["data_facts"]["null"] is True and metrics["data_facts"]["ceiling_auc"] == 0.5
    report = (tmp_path / "report.md").read_text()
    assert "This is a **null set**" in report and "a null set: no class signal" in report

