"""The CLAIM 2024 and TRIPOD+AI tables: every item numbered once, in the checklists' own numbering, and each mark
following what the run did (a test set or none, internal or external, synthetic data or a folder)."""
import json
from types import SimpleNamespace

import pytest

from femur_app.reporting.checklists import CLAIM_2024, TRIPOD_AI, Mark, Run, checklist_section, marks

TRIPOD_NUMBERS = ["1", "2", "3a", "3b", "3c", "4", "5a", "5b", "6a", "6b", "6c", "7", "8a", "8b", "8c", "9a", "9b",
                  "9c", "10", "11", "12a", "12b", "12c", "12d", "12e", "12f", "12g", "13", "14", "15", "16", "17",
                  "18a", "18b", "18c", "18d", "18e", "18f", "19", "20a", "20b", "20c", "21", "22", "23a", "23b", "24",
                  "25", "26", "27a", "27b", "27c"]
EVERY_HEADING = ("Intended use and target population", "Data and reference standard",
                 "Partitions and patient-level disjointness", "Model, training and selection procedure",
                 "What was run", "Results", "Per fold", "An operating point fixed in advance",
                 "Baselines on the same cases and folds", "Test set", "Subgroups", "Failure analysis",
                 "Where the network looked (Grad-CAM)", "Counterfactual sign tests", "Limitations",
                 "How to read this report")


def test_the_checklists_hold_their_items_in_their_numbering():
    assert [number for number, _, _ in CLAIM_2024] == [str(i) for i in range(1, 45)]
    assert [number for number, _, _ in TRIPOD_AI] == TRIPOD_NUMBERS
    assert len({n.rstrip("abcdefg") for n in TRIPOD_NUMBERS}) == 27


def _run(tmp_path, synthetic=True, test=None, centres=None, headings=EVERY_HEADING, repeats=1):
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    if centres is not None:
        (folder / "import_summary.json").write_text(json.dumps({"by_centre": {c: 4 for c in centres}}))
    ev = SimpleNamespace(data_facts=SimpleNamespace(ceiling_auc=0.9 if synthetic else None),
                         data=SimpleNamespace(source=str(folder)), test=test, counterfactuals=[],
                         gallery=SimpleNamespace(inside={"TP": SimpleNamespace(cases=3)}),
                         subgroups=[object()] if synthetic else [], operating_point=object())
    setup = SimpleNamespace(config=SimpleNamespace(cv=SimpleNamespace(repeats=repeats)))
    return Run(ev, setup, headings)


def _mark(items, number, run):
    return next(mark for n, _, mark in marks(items, run) if n == number)


def test_external_testing_follows_the_test_set(tmp_path):
    assert _mark(CLAIM_2024, "33", _run(tmp_path)) == Mark(
        "not done", "no test set was given (--test-data); every figure is cross-validated")
    internal = SimpleNamespace(external=False, scope="internal: drawn by the same generator")
    assert _mark(CLAIM_2024, "33", _run(tmp_path, test=internal)) == Mark(
        "not done", "the test set is internal: drawn by the same generator")
    assert _mark(CLAIM_2024, "32", _run(tmp_path, test=internal)) == Mark("done", "Results; Test set")
    external = SimpleNamespace(external=True, scope="external: centre(s) 3")
    assert _mark(CLAIM_2024, "33", _run(tmp_path, test=external)) == Mark("done", "Test set")
    assert _mark(CLAIM_2024, "27", _run(tmp_path)).status == "n/a"
    assert _mark(CLAIM_2024, "27", _run(tmp_path, test=external)) == Mark("done", "Test set")
    assert _mark(TRIPOD_AI, "16", _run(tmp_path)).status == "n/a"


def test_marks_follow_the_data(tmp_path):
    synthetic, folder = _run(tmp_path), _run(tmp_path, synthetic=False)
    assert _mark(CLAIM_2024, "16", synthetic).status == "n/a" and _mark(CLAIM_2024, "16", folder).status == "not done"
    assert _mark(TRIPOD_AI, "23a", synthetic) == Mark("done", "Per fold; Subgroups")
    assert _mark(TRIPOD_AI, "23a", folder).status == "not done"
    assert _mark(TRIPOD_AI, "6a", folder).status == "not done"
    assert _mark(TRIPOD_AI, "6a", _run(tmp_path, synthetic=False, centres=["1", "2"])) == Mark(
        "done", "Data and reference standard")
    two_centres = _run(tmp_path, synthetic=False, centres=["1", "2"])
    assert _mark(TRIPOD_AI, "12d", two_centres) == Mark("not done", "2 centres, but no result is given per centre")
    assert _mark(TRIPOD_AI, "12d", synthetic).status == "n/a"
    assert _mark(CLAIM_2024, "30", _run(tmp_path, repeats=3)) == Mark("done", "Results")
    assert _mark(CLAIM_2024, "30", synthetic).status == "not done"  # no counterfactuals, one repetition


def test_a_done_mark_needs_its_section(tmp_path):
    run = _run(tmp_path, headings=tuple(h for h in EVERY_HEADING if h != "Limitations"))
    assert _mark(CLAIM_2024, "40", run) == Mark("not done", "its section (Limitations) is not in this report")
    lines = [f"## {h}" for h in EVERY_HEADING]
    table = "\n".join(checklist_section(run.ev, run.setup, lines))
    assert "| 40 | Limitations | done | Limitations |" in table
    assert "### CLAIM 2024: " in table and "### TRIPOD+AI: " in table
