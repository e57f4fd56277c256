"""The report of a run's folds finished so far: ``report_so_far(run_dir, out) -> RunEvaluation``, while the run
goes on in another process or after it was stopped.

It is the final report's own code on fewer folds: the run's configuration (``config.toml``) and data, the fold
results that exist (``run_folder.read_finished``), ``cross_validation.evaluate_folds`` and
``reporting.outputs.render``, with the run's null model once the run has trained it (Grad-CAM's baseline,
``null_model.saved_null_model``). A partial evaluation says which folds it holds (report.md's first lines: "k of n
folds"; metrics.json: ``folds_finished``, ``folds_total``), and every pooled figure and interval is of those
folds' held-out cases only.

It changes nothing of the run: it takes no lock (the run holds it), writes no log line, deletes nothing, and
checks the data against the run's fingerprint by reading it. A fold whose result exists but whose model is
missing or damaged (the run will train it again) is left out, and the message says so. The report goes into
``out`` (default ``RUN_DIR/partial/``, which the run itself never reads or writes): a new or empty folder, or
one that holds an earlier report so far (its ``MARKER`` lists the files to replace); its files are written into
a staging folder inside it and moved in when all are written.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from femur_app.config import Config, resolve
from femur_app.data import load
from femur_app.errors import UserError
from femur_app.evaluation.run import FinishedFold, RunEvaluation
from femur_app.reporting.outputs import render
from femur_app.reporting.setup import RunSetup, software_versions
from femur_app.training import fingerprint, run_folder
from femur_app.training.cross_validation import evaluate_folds
from femur_app.training.folds import assign_folds
from femur_app.training.null_model import saved_null_model
from minicnn.serialize import write_text_atomic

MARKER = ".report_so_far.json"  # in ``out``: the names of the files the last report so far wrote there
START = " start: "  # train.log's line of each session (femur_app.training.cross_validation.run)


def evaluate_so_far(run_dir: Path) -> tuple[Config, RunEvaluation, list[str]]:
    """(the run's configuration, the evaluation of its finished folds, a note per finished fold left out)."""
    saved = run_dir / "config.toml"
    if not saved.is_file():
        raise UserError(f"{run_dir}: not a run folder, it has no config.toml (expected the --out folder of "
                        "python -m femur_app.train, or one repeat_NN folder of a repeated run)")
    config = resolve([saved])
    data = load(config.data.source, config.data)
    folds = assign_folds(data.y, data.patient_ids, config.cv.folds, config.seed)
    run_folder.recorded_run(run_dir, fingerprint.of_run(config, data.case_ids, data.patient_ids, data.y, data.X,
                                                        folds))
    finished, left_out = [], []
    for fold in range(1, config.cv.folds + 1):
        result, problem = run_folder.read_finished(run_dir, fold, data.case_ids, folds)
        if problem:
            left_out.append(f"fold {fold} left out: its model {problem} (the run trains it again)")
        elif result is not None:
            finished.append(FinishedFold.from_record(result))
    if not finished:
        raise UserError(f"{run_dir}: no fold has finished yet (expected at least one folds/fold_NN.json; the "
                        "first comes when the first fold's last epoch is done)")
    test = load(config.data.test_source, config.data, test=True) if config.data.test_source else None
    return config, evaluate_folds(config, run_dir, data, finished, test, saved_null_model(run_dir)), left_out


def report_so_far(run_dir, out=None, command: str = "", profile: str = "") -> tuple[RunEvaluation, Path, list[str]]:
    """Write the report of ``run_dir``'s finished folds into ``out`` (default ``RUN_DIR/partial``) -> (its
    evaluation, ``out``, notes on left-out folds). ``command`` and ``profile``: the run's, as its report states
    them (``last_command`` gives the command)."""
    started = time.perf_counter()
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / run_folder.PARTIAL
    if out.resolve() == run_dir.resolve():
        raise UserError(f"{out}: is the run folder itself (expected another folder for the report so far: its "
                        "outputs are the run's)")
    previous = earlier_report(out)  # refused before the evaluation's minutes, created after them
    config, evaluation, left_out = evaluate_so_far(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    setup = RunSetup(config, profile, command, software_versions(config.run.device), 0.0,
                     time.perf_counter() - started)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    try:
        render(evaluation, setup, staging)
        names = sorted(p.name for p in staging.iterdir())
        for name in set(previous) - set(names):
            (out / name).unlink(missing_ok=True)
        for name in names:
            os.replace(staging / name, out / name)
        write_text_atomic(out / MARKER, json.dumps(names))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return evaluation, out, left_out


def earlier_report(out: Path) -> list[str]:
    """The files an earlier report so far wrote in ``out`` (none when ``out`` does not exist yet). A folder
    holding anything else is refused: a user's files are never replaced."""
    if not out.exists():
        return []
    if not out.is_dir():
        raise UserError(f"{out}: is a file (expected a folder for the report so far)")
    try:
        previous = json.loads((out / MARKER).read_text())
    except FileNotFoundError:
        previous = []
    except ValueError:
        raise UserError(f"{out / MARKER}: damaged (expected the list of files a report so far wrote)") from None
    own = {*previous, MARKER}
    others = sorted(p.name for p in out.iterdir() if p.name not in own and not p.name.startswith(".staging-"))
    if others:
        raise UserError(f"{out}: holds files that no report so far wrote ({', '.join(others[:5])}) (expected a new "
                        "or empty folder, or one an earlier report so far wrote)")
    return [name for name in previous if isinstance(name, str) and name and "/" not in name and name != MARKER]


def last_command(run_dir) -> str:
    """The command of the run's last session, as ``train.log`` recorded it ("" when there is none)."""
    try:
        lines = Path(run_dir, "train.log").read_text().splitlines()
    except FileNotFoundError:
        return ""
    starts = [line.split(START, 1)[1] for line in lines if START in line]
    return starts[-1] if starts else ""
