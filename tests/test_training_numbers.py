"""The figures docs/training.md quotes for the README's main job, asserted from the committed record
(docs/figures/training_numbers.json, written by docs/training_numbers.py collect from a
``python -m femur_app.train --quick --repeats 5`` run folder), so that the prose and the record cannot drift apart.
Nothing is trained here."""
from __future__ import annotations

import importlib.util
import json
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("training_numbers", ROOT / "docs" / "training_numbers.py")
training_numbers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(training_numbers)


@pytest.fixture(scope="module")
def record():
    return json.loads((ROOT / "docs" / "figures" / "training_numbers.json").read_text())


def test_docs_quote_the_record_verbatim(record):
    """Every figure of the results block (table, means, intervals, calibration, subgroups) is the record's."""
    assert training_numbers.numbers(record) in (ROOT / "docs" / "training.md").read_text()


def test_the_record_is_of_the_readme_command(record):
    assert record["command"] == "python -m femur_app.train --quick --repeats 5" == training_numbers.COMMAND
    assert "python -m femur_app.train --quick\n" in (ROOT / "README.md").read_text()
    assert record["repeats_configured"] == 5 and 1 <= record["repeats_finished"] == len(record["repetitions"])
    assert record["repetitions"][0]["seed"] == 0  # repetition 1 is the README's run itself


def test_the_mean_and_sd_over_repetitions_recomputed(record):
    if record["repeats_finished"] < 2:
        assert "over_repetitions" not in record and "**One repetition only**" in training_numbers.numbers(record)
        return
    over = record["over_repetitions"]["mean_sd"]
    for name in ("auc", "sensitivity", "specificity", "accuracy"):
        values = [row[name]["value"] for row in record["repetitions"]]
        assert over[name][0] == pytest.approx(statistics.fmean(values), abs=1e-4)
        assert over[name][1] == pytest.approx(statistics.stdev(values), abs=1e-4)
