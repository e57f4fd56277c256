"""python -m femur_app.report RUN_DIR: the report of the folds finished so far (issue 27, item 2), on a 5-fold run
stopped after 2 folds, on a run still training (its lock held), and on the finished run, where it must give the
run's own report."""
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from femur_app import report, train
from femur_app.config import resolve
from femur_app.data import load
from femur_app.training import run_folder
from minicnn.fast import blas

FIVE_FOLDS = ["--folds", "5", "--epochs", "1", "--set", "data.n=30", "--set", "data.n_malignant=10",
              "--set", "data.input_size=40", "--set", "model.width=0.0625", "--set", "cv.bootstrap=200"]


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def stop_after_fold(monkeypatch, k: int, then=None):
    """Make the run stop (KeyboardInterrupt) once fold ``k``'s result is written, or call ``then()`` there."""
    real, written = run_folder.write_finished, []

    def write_then_stop(run_dir, fold, result):
        done = real(run_dir, fold, result)
        written.append(fold)
        if len(written) == k:
            if then is None:
                raise KeyboardInterrupt
            then()
        return done

    monkeypatch.setattr(run_folder, "write_finished", write_then_stop)
    return written


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """A 5-fold run interrupted right after its second fold finished."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    with pytest.MonkeyPatch.context() as monkeypatch:
        stop_after_fold(monkeypatch, 2)
        assert train.main(["--out", str(out), *FIVE_FOLDS]) == 130  # Ctrl-C: one line, exit 130 (femur_app.cli)
    assert sorted(p.name for p in (out / "folds").iterdir()) == ["fold_01.json", "fold_02.json"]
    return out


def test_a_stopped_run_gives_a_report_of_its_two_folds(stopped, capsys):
    before = files(stopped)
    assert report.main([str(stopped)]) == 0
    after = files(stopped)
    partial = {name: data for name, data in after.items() if name.startswith("partial/")}
    assert {name: data for name, data in after.items() if not name.startswith("partial/")} == before
    assert {"partial/report.md", "partial/metrics.json", "partial/predictions.csv"} <= set(partial)

    # the oracle: sklearn's AUC over the two folds' held-out predictions, labels from the data themselves
    settings = resolve([stopped / "config.toml"]).data
    data = load(settings.source, settings)
    label = dict(zip(data.case_ids.tolist(), data.y.tolist()))
    held = [json.loads((stopped / "folds" / f"fold_0{k}.json").read_text()) for k in (1, 2)]
    ids = [c for fold in held for c in fold["case_ids"]]
    probs = [p for fold in held for p in fold["prob_malignant"]]
    assert len(ids) == 12 and len(set(label[c] for c in ids)) == 2
    metrics = json.loads(partial["partial/metrics.json"])
    assert metrics["pooled"]["auc"]["value"] == roc_auc_score([label[c] for c in ids], probs)
    assert metrics["cases"] == 12 and metrics["folds_finished"] == [1, 2] and metrics["folds_total"] == 5
    head = partial["partial/report.md"].decode().splitlines()[:4]
    assert head[0] == "# AlexNet-BN femoral tumour classification: paper run"
    assert head[2].startswith("**A report of 2 of 5 folds** (folds 1, 2; the run is not finished)")
    out = capsys.readouterr().out
    assert out.startswith(f"{stopped}/partial/report.md: 2 of 5 folds (1, 2), pooled AUC "
                          f"{metrics['pooled']['auc']['value']:.3f}")


def test_a_running_run_is_reported_without_taking_its_lock(tmp_path, monkeypatch, capsys):
    """The report command runs while the training process holds the lock (from inside the run, after fold 2).
    The run also names its BLAS at the start, and warns of an OPENBLAS_CORETYPE below the processor (issue 27,
    item 4: the environment and the processor's flags are the test's)."""
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setattr(blas, "cpu_flags", lambda: {"avx2", "avx512f"})
    out = tmp_path / "run"
    statuses = []
    stop_after_fold(monkeypatch, 2, then=lambda: statuses.append(report.main([str(out), "--out",
                                                                              str(tmp_path / "so_far")])))
    assert train.main(["--out", str(out), *FIVE_FOLDS]) == 0
    assert statuses == [0]
    captured = capsys.readouterr()
    printed = captured.out
    assert f"report of the folds finished so far, at any time: python -m femur_app.report {out} " in printed
    blas_line = f"BLAS: {blas.describe()}"  # the run's folds: the library's default threads (run.blas_threads 0)
    assert blas_line in printed.splitlines() and f" {blas_line}\n" in (out / "train.log").read_text()
    warning = blas.forced_lower_isa({"OPENBLAS_CORETYPE": "Haswell"}, {"avx512f"})
    assert captured.err.count(warning) == 1 and warning.startswith("warning: OPENBLAS_CORETYPE=Haswell makes")
    metrics = json.loads((tmp_path / "so_far" / "metrics.json").read_text())
    assert metrics["folds_finished"] == [1, 2] and not (out / "partial").exists()
    assert "took over" not in (out / "train.log").read_text()  # the lock was never the report's


def test_the_finished_run_reports_as_the_run_did(stopped, tmp_path):
    """Resumed to the end, the run's report and the report command's are the same code on all folds."""
    assert train.main(["--out", str(stopped), *FIVE_FOLDS]) == 0
    again = tmp_path / "again"
    assert report.main([str(stopped), "--out", str(again)]) == 0
    for name in ("metrics.json", "predictions.csv", "folds.csv"):
        assert (again / name).read_bytes() == (stopped / name).read_bytes(), name
    assert "folds_finished" not in json.loads((again / "metrics.json").read_text())
    timeless = [[line for line in (folder / "report.md").read_text().splitlines() if not line.startswith("- **Time**")]
                for folder in (stopped, again)]
    assert timeless[0] == timeless[1] and "of 5 folds" not in (again / "report.md").read_text()
    assert report.main([str(stopped), "--out", str(again)]) == 0  # an earlier report so far is replaced


@pytest.mark.parametrize("case, message", [
    ("empty", "not a run folder, it has no config.toml"),
    ("no_fold", "no fold has finished yet"),
    ("user_folder", "holds files that no report so far wrote (mine.txt)"),
    ("itself", "is the run folder itself")])
def test_what_cannot_be_reported_is_one_line(stopped, tmp_path, capsys, case, message):
    run_dir, extra = stopped, []
    if case == "empty":
        run_dir = tmp_path
    elif case == "no_fold":
        run_dir = tmp_path / "copy"
        run_dir.mkdir()
        for name in ("config.toml", "fingerprint.json"):
            (run_dir / name).write_bytes((stopped / name).read_bytes())
    elif case == "user_folder":
        (tmp_path / "mine.txt").write_text("keep me")
        extra = ["--out", str(tmp_path)]
    else:
        extra = ["--out", str(stopped)]
    assert report.main([str(run_dir), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert case != "user_folder" or (tmp_path / "mine.txt").read_text() == "keep me"
    assert case != "empty" or not (tmp_path / "partial").exists()  # nothing written where nothing was reported
