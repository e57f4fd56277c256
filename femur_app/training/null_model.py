"""The null-trained model: the run's network, trained as a fold is, on every case with its labels shuffled.

It is a baseline for Grad-CAM (``femur_app.evaluation.gallery``): a network that has learnt the images but no
class can still put its heat map on the lesion, because the lesion is the most structured part of the ROI; the
trained network's share inside the lesion means something only where it exceeds this model's. Its labels are a
seeded permutation of the true ones (``SeedSequence(seed, spawn_key=(0, 2))``; the weights and the batch order
come from ``(0, 0)`` and ``(0, 1)``, the streams of a fold 0 that cross-validation never uses), so it is the same
in every session. It is trained once, after the folds, into ``checkpoints/null.npz`` with the run's id, and read
back in a later session of the same run; it costs one fold's training. A null model that diverges is left out
(the report says so).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from femur_app.config import Config
from femur_app.data.dataset import Prepared
from femur_app.data.normalise import Normalisation
from femur_app.models import checkpoint
from femur_app.models.fold_model import FoldModel
from femur_app.training import run_folder
from femur_app.training.fold import Diverged, make_model, make_optimizer, train_epoch
from minicnn import backend

NULL_FOLD = 0  # the id the null model carries where a fold model carries its fold


def null_model_path(run_dir) -> Path:
    return Path(run_dir) / "checkpoints" / "null.npz"


def saved_null_model(run_dir) -> FoldModel | None:
    """The null model this run folder holds for this very run, read without changing anything (the report of a
    run in progress reads it too); None when there is none yet."""
    path = null_model_path(run_dir)
    if not path.exists():
        return None
    # read once: its run id decides whether it is this run's
    model, metadata = checkpoint.load_model(run_folder.own_file(path), follow_symlinks=False)
    return checkpoint.as_fold_model(model, metadata) if metadata.get("run") == run_folder.run_id(run_dir) else None


def null_model(data: Prepared, config: Config, run_dir) -> FoldModel | None:
    """This run's null-trained model: read back when the folder holds this run's, else trained and written; None
    when its training diverges."""
    saved = saved_null_model(run_dir)
    if saved is not None:
        return saved
    path, identity = null_model_path(run_dir), run_folder.identity(run_dir, NULL_FOLD)
    streams = [np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(NULL_FOLD, k))) for k in range(3)]
    model_rng, batch_rng, label_rng = streams
    shuffled = dataclasses.replace(data, y=label_rng.permutation(data.y))
    train, device = config.train, config.run.device
    model = make_model(config.model, train, config.data.input_size, model_rng)
    if device == "cuda":
        backend.to_gpu(model)
    optimizer, schedule = make_optimizer(train, model)
    normalisation = Normalisation.of(data.X)
    every = np.arange(len(data.y))
    with threadpool_limits(limits=config.run.blas_threads or None):
        try:
            for _ in range(train.epochs):
                train_epoch(model, optimizer, shuffled, every, normalisation, train.batch_size, config.augment,
                            device, batch_rng, None)
                if schedule:
                    schedule.step()
        except Diverged as error:
            run_folder.log(run_dir, f"null model: diverged ({error}); Grad-CAM is compared without it")
            return None
    if device == "cuda":
        backend.to_cpu(model)
    checkpoint.save_model(path, model, architecture=config.model.name, model_kwargs=config.model.builder_kwargs(),
                          input_size=config.data.input_size, normalisation=normalisation,
                          threshold=config.cv.threshold,
                          extra={**identity, "epochs": train.epochs, "status": "null: labels shuffled",
                                 "preprocess": {"roi": config.data.roi}})
    run_folder.log(run_dir, f"null model: trained {train.epochs} epoch(s) on shuffled labels into {path.name}")
    return checkpoint.load(path, follow_symlinks=False)
