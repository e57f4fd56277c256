"""What a full paper-profile run (``python -m femur_app.train``) costs on this machine: its time and its disk writes.

    python benchmarks/paper_run_cost.py                     # the paper profile (femur_app/configs/paper.toml)
    python benchmarks/paper_run_cost.py --set run.checkpoint_minutes=0     # as before issue 12: every epoch

A full run takes hours, so its parts are measured and multiplied out:

* time: femur_app's own estimate (``estimate_seconds``, the line ``femur_app.train`` prints before training): one
  training step of the configured network on a random batch, timed after a warm-up step, x batches per epoch x
  epochs x 1.1 for the held-out passes, folds ``run.jobs`` at a time;
* disk: one training state and one model checkpoint of the configured network, written for real (after one step,
  so that the momentum buffers exist) into a temporary folder. A fold writes its state after an epoch once
  ``run.checkpoint_minutes`` have passed since its last save, and after its last epoch; then its model; then the
  state is deleted. The epochs are taken as equally long (the fold's estimated time / epochs).

The synthetic default set is not drawn: a fold trains on ``data.n * (folds - 1) / folds`` cases, as the paper's
500 cases in 10 folds give 450 (grouping by patient moves a few cases between folds).
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from femur_app.config import parse_assignment, resolve  # noqa: E402
from femur_app.data.normalise import Normalisation  # noqa: E402
from femur_app.models import checkpoint  # noqa: E402
from femur_app.reporting.setup import duration  # noqa: E402
from femur_app.training.cross_validation import estimate_seconds  # noqa: E402
from femur_app.training.fold import make_model, make_optimizer  # noqa: E402
from minicnn import train_step  # noqa: E402
from minicnn.fast import reuse_freed_memory  # noqa: E402


def state_saves(epochs: int, epoch_seconds: float, checkpoint_minutes: float) -> int:
    """How many times a fold writes its training state: femur_app.training.fold's rule, epochs of equal length."""
    saves, last_saved = 0, 0.0
    for epoch in range(1, epochs + 1):
        now = epoch * epoch_seconds
        if epoch == epochs or now - last_saved >= checkpoint_minutes * 60:
            saves, last_saved = saves + 1, now
    return saves


def file_sizes(config) -> tuple[int, int]:
    """(bytes of one training state, bytes of one model checkpoint) of the configured network, written for real."""
    rng = np.random.default_rng(0)
    model = make_model(config.model, config.train, config.data.input_size, rng)
    optimizer, _ = make_optimizer(config.train, model)
    size = config.data.input_size
    x = rng.standard_normal((2, 1, size, size)).astype(np.float32)
    train_step(model, optimizer, x, np.array([0, 1]))  # the momentum buffers now exist, as in every saved state
    with tempfile.TemporaryDirectory() as folder:
        state, model_file = Path(folder, "fold_01.state.npz"), Path(folder, "fold_01.npz")
        checkpoint.save_state(state, model, optimizer, {"model": rng, "batch": rng}, epoch=1,
                              history=[{"epoch": 1, "loss": 0.69}], identity={"run": "0" * 16, "fold": 1})
        checkpoint.save_model(model_file, model, architecture=config.model.name,
                              model_kwargs=config.model.builder_kwargs(), input_size=size,
                              normalisation=Normalisation.of(x), threshold=config.cv.threshold,
                              extra={"run": "0" * 16, "fold": 1, "epochs": config.train.epochs, "status": "ok",
                                     "preprocess": {"roi": config.data.roi}})
        return state.stat().st_size, model_file.stat().st_size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="as femur_app.train's --set")
    args = parser.parse_args(argv)
    config = resolve(overrides=[(f"--set {text}", parse_assignment(text)) for text in args.set])
    folds, epochs = config.cv.folds, config.train.epochs
    n_train = config.data.n * (folds - 1) // folds
    reuse_freed_memory()  # as femur_app.train does before it prints its estimate
    total_seconds, per_batch = estimate_seconds(config.model, config.train, config.run, config.data.input_size,
                                                n_train, folds)
    fold_seconds = total_seconds / math.ceil(folds / min(config.run.jobs, folds))  # one fold, folds in parallel
    saves = state_saves(epochs, fold_seconds / epochs, config.run.checkpoint_minutes)
    state_bytes, model_bytes = file_sizes(config)
    print(f"network {config.model.name} at {config.data.input_size} px, batch {config.train.batch_size}, "
          f"{epochs} epochs, {folds} folds of about {n_train} training cases, run.jobs {config.run.jobs}")
    print(f"time: {per_batch:.2f} s per batch -> {duration(fold_seconds)} per fold, {duration(total_seconds)} in all")
    print(f"one training state {state_bytes / 1e6:.1f} MB, one model checkpoint {model_bytes / 1e6:.1f} MB")
    print(f"run.checkpoint_minutes {config.run.checkpoint_minutes:g}: {saves} state writes per fold -> "
          f"{folds * (saves * state_bytes + model_bytes) / 1e9:.2f} GB written by the folds' checkpoints; "
          f"{folds * model_bytes / 1e9:.2f} GB of model checkpoints left behind (states deleted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
