"""A run's fold models are values loaded once: after training, every consumer (the independent test set, the
Grad-CAM gallery, the counterfactual sign tests) predicts with the same FoldModel, so each fold checkpoint is read
once per session - counted here on a 5-fold smoke run with a test set, in a first session and a resumed one. On
the same run: the evaluation of the folds finished so far (3 of 5) is a partial one, rendered as such."""
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from femur_app.config import resolve
from femur_app.data import load
from femur_app.evaluation.run import FinishedFold, evaluate
from femur_app.models import checkpoint
from femur_app.reporting.outputs import metrics_record, render
from femur_app.reporting.setup import RunSetup
from femur_app.train import main
from femur_app.training import run_folder
from femur_app.training.folds import assign_folds

SMOKE = ["--quick", "--config", "femur_app/configs/smoke.toml", "--set", "cv.bootstrap=50", "--folds", "5",
         "--test-data", "synthetic:2"]


@pytest.fixture(scope="module")
def five_folds(tmp_path_factory):
    """The run folder and the checkpoint loads of each session: (first session's, resumed session's)."""
    out = tmp_path_factory.mktemp("five_folds")
    real, sessions = checkpoint.load_model, []

    def counted(path, *args, **kwargs):
        sessions[-1][Path(path).name] += 1
        return real(path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkpoint, "load_model", counted)
        for _ in range(2):  # the second session resumes: every fold finished, the outputs rebuilt
            sessions.append(Counter())
            assert main(["--out", str(out), *SMOKE]) == 0
    return out, sessions


def test_each_fold_checkpoint_is_loaded_once_per_session(five_folds):
    out, sessions = five_folds
    expected = {**{f"fold_{k:02d}.npz": 1 for k in range(1, 6)}, "null.npz": 1}  # and the null model's, once
    assert [dict(loads) for loads in sessions] == [expected, expected]
    report = (out / "report.md").read_text()
    assert "## Test set" in report and "### Counterfactual sign tests" in report and "(gallery.png)" in report


def test_an_evaluation_of_the_folds_finished_so_far_is_partial(five_folds, tmp_path):
    out, _ = five_folds
    config = resolve([out / "config.toml"])
    data = load(config.data.source, config.data)
    folds = assign_folds(data.y, data.patient_ids, config.cv.folds, config.seed)
    finished = [FinishedFold.from_record(run_folder.load_finished(out, f, data.case_ids, folds)) for f in (1, 2, 4)]
    ev = evaluate(data, finished, run_folder.fold_models(out, [1, 2, 4]), folds_total=5, threshold=0.5, bootstrap=50,
                  seed=config.seed, roi=config.data.roi)
    held = np.isin(folds, [1, 2, 4])
    assert ev.partial and ev.summary.cases == held.sum() == len(ev.data.y) < 40
    assert ev.predictions.case_ids.tolist() == data.case_ids[held].tolist()  # in the data's order
    assert sorted(set(ev.predictions.folds.tolist())) == [1, 2, 4]
    assert ev.data_facts.ceiling_auc is not None and ev.counterfactuals  # facts of the whole set; signs of these cases
    assert all(row.cases <= 2 for row in ev.counterfactuals) and sum(row.cases for row in ev.counterfactuals) > 8
    record = metrics_record(ev)
    assert (record["folds_finished"], record["folds_total"], record["cases"]) == ([1, 2, 4], 5, held.sum())
    render(ev, RunSetup(config, profile="partial"), tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "**A report of 3 of 5 folds** (folds 1, 2, 4; the run is not finished)" in report
    assert "**A report of" not in (out / "report.md").read_text()  # the finished run's report says nothing of it
