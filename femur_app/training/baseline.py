"""The radiomics baseline through the same cross-validation as the networks: same cases, same folds.

Hand-crafted features of every prepared ROI (``femur_app.models.radiomics``), then per fold a logistic regression
fitted on the training fold predicts the held-out fold. Writes ``predictions.csv`` and ``metrics.json`` into
``run_dir``, like a network's run folder.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from femur_app.config import Config
from femur_app.data import load
from femur_app.evaluation.metrics import summarize
from femur_app.evaluation.predictions import Predictions
from femur_app.models import radiomics
from femur_app.reporting.outputs import summary_record
from femur_app.training import run_folder
from femur_app.training.cross_validation import RunResult
from femur_app.training.folds import assign_folds
from minicnn.serialize import write_text_atomic


def run_radiomics(config: Config, run_dir) -> RunResult:
    """The baseline into ``run_dir``, a run folder of its own kind (``run_folder.KINDS``), locked meanwhile."""
    run_dir = Path(run_dir)
    with run_folder.lock(run_dir, "radiomics"):
        return _radiomics(config, run_dir)


def _radiomics(config: Config, run_dir: Path) -> RunResult:
    data = load(config.data.source, config.data, functools.partial(run_folder.log, run_dir))
    folds = assign_folds(data.y, data.patient_ids, config.cv.folds, config.seed)
    features = radiomics.feature_matrix(data.X, n_jobs=config.run.jobs)
    probs = np.empty(len(data.y))
    for fold in np.unique(folds):
        held = folds == fold
        probs[held] = radiomics.fit_predict(features[~held], data.y[~held], features[held])
    predictions = Predictions(data.case_ids, data.patient_ids, folds, data.y, probs, config.cv.threshold)
    summary = summarize(data.y, probs, folds, data.patient_ids, threshold=config.cv.threshold,
                        bootstrap_replicates=config.cv.bootstrap, seed=config.seed)
    predictions.write_csv(run_dir / "predictions.csv")
    write_text_atomic(run_dir / "metrics.json", json.dumps(summary_record(summary), indent=2))
    return RunResult(run_dir, data, predictions, summary)
