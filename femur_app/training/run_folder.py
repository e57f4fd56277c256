"""The run folder: where each file of a run lives, its log, and the checks that make resuming safe.

    config.toml                    the resolved configuration (a valid --config)
    train.log                      one line per epoch of every fold, and the run's events
    checkpoints/fold_NN.npz        the trained model of fold NN (femur_app.models.checkpoint)
    checkpoints/fold_NN.state.npz  the last good training state of fold NN, rewritten after every epoch
    folds/fold_NN.json             a finished fold: its predictions and learning curves (written last, atomically)
    predictions.csv  metrics.json  folds.csv  roc.png  confusion_matrix.png  learning_curves.png
    reliability.png  gallery.png  report.md        the outputs, rebuilt at the end of every session

A folder that already holds a ``config.toml`` is resumed only with the same configuration (all but its [run]
section), and a finished fold only if its held-out cases are those of today's split.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np

from femur_app.config import Config, flat_diff, read_toml, to_toml
from femur_app.errors import UserError
from minicnn.serialize import write_text_atomic


def fold_paths(run_dir, fold: int) -> dict[str, Path]:
    run_dir = Path(run_dir)
    return {"model": run_dir / "checkpoints" / f"fold_{fold:02d}.npz",
            "state": run_dir / "checkpoints" / f"fold_{fold:02d}.state.npz",
            "result": run_dir / "folds" / f"fold_{fold:02d}.json"}


def log(run_dir, message: str) -> None:
    """Append one time-stamped line to ``train.log`` (appends of one short line do not interleave)."""
    with open(Path(run_dir) / "train.log", "a") as f:
        f.write(f"{datetime.now().isoformat(timespec='seconds')} {message}\n")


def prepare(run_dir: Path, config: Config) -> None:
    """Create the run folder, or check that an existing one was started with the same configuration."""
    saved = run_dir / "config.toml"
    if saved.exists():
        before = {key: value for key, value in read_toml(saved).items() if key != "run"}
        now = config.results_part()
        if before != now:
            changes = [f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(flat_diff(before, now).items())]
            raise UserError(f"{run_dir}: holds a run with a different configuration ({'; '.join(changes)}) "
                            f"(expected the same options to resume it, or another --out)")
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run_dir / "folds").mkdir(exist_ok=True)
    write_text_atomic(saved, to_toml(config))


def load_finished(run_dir: Path, fold: int, case_ids: np.ndarray, folds: np.ndarray) -> dict | None:
    """A finished fold's result, checked against today's split; None if the fold has not finished."""
    path = fold_paths(run_dir, fold)["result"]
    if not path.exists():
        return None
    result = json.loads(path.read_text())
    if result["case_ids"] != case_ids[folds == fold].tolist():
        raise UserError(f"{path}: its held-out cases differ from fold {fold} of the current data, so the data "
                        f"changed since the run started (expected the same data, or another --out)")
    return result
