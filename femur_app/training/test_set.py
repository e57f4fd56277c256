"""The independent test set: cases no fold ever trained or was evaluated on, predicted after the cross-validation.

``data.test_source`` (``--test-data``) names it: a data folder, read like ``--data``, or ``synthetic:SEED``, a
fresh synthetic set of the training set's size drawn with another ``synthetic_seed``. Its phantoms come from
independent random streams (``SeedSequence(SEED, ...)``), so no test patient is a training patient by
construction; their ids are prefixed ``test-sSEED-`` so that they cannot be mistaken for the training set's.

Which model predicts it: every fold's model, and each case gets the *mean* of their P(malignant) (an ensemble of
the K fold models, each trained on (K - 1)/K of the training data); no model is retrained on all the data. Each
fold model standardises the test images with its own training fold's statistics, stored in its checkpoint, as in
the cross-validation. The threshold is the run's (``cv.threshold``), fixed before any test case was seen.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from femur_app.config import Config
from femur_app.data import load_dataset
from femur_app.data.dataset import Prepared, prepare
from femur_app.data.normalise import Normalisation
from femur_app.errors import DataError
from femur_app.evaluation.metrics import summarize
from femur_app.models import checkpoint
from femur_app.reporting.predictions import Predictions
from femur_app.training import run_folder
from femur_app.training.fold import predict

TEST_FOLD = 0  # the fold column of test_predictions.csv: 0 = the mean of all fold models


@dataclass
class TestResult:
    source: str  # data.test_source as given
    data: Prepared
    predictions: Predictions  # fold column TEST_FOLD; probs = the fold models' mean
    per_model: np.ndarray  # (folds, N): each fold model's P(malignant)
    metrics: dict  # summarize()'s content for the test set
    shared_patients: list  # patient ids found in both the training and the test set (should be empty)


def synthetic_seed_of(source: str) -> int | None:
    """SEED of ``"synthetic:SEED"``; None for a folder."""
    return int(source.removeprefix("synthetic:")) if source.startswith("synthetic:") else None


def load_test_data(config: Config, run_dir=None) -> Prepared:
    """The configured test cases, prepared exactly as the training cases are."""
    source, data = config.data.test_source, config.data
    seed = synthetic_seed_of(source)
    if seed is not None:
        cases = [dataclasses.replace(c, case_id=f"test-s{seed}-{c.case_id}", patient_id=f"test-s{seed}-{c.patient_id}")
                 for c in load_dataset("synthetic", n=data.n, n_malignant=data.n_malignant, seed=seed, null=data.null)]
        description = (f"a fresh synthetic set (synthetic_seed {seed}, {data.n} cases, {data.n_malignant} malignant"
                       f"{', null: no class signal' if data.null else ''}), disjoint from the training set by "
                       "construction (independent random streams)")
    else:
        cases, description = run_folder.read_folder(source, data, run_dir, role="test input")
    labels = {c.label for c in cases}
    if labels != {0, 1}:
        raise DataError(f"--test-data {source}: holds only {sorted(labels)} labels (expected benign and malignant "
                        "cases, so that sensitivity, specificity and AUC are defined)")
    return prepare(cases, size=data.input_size, description=description, roi=data.roi)


def predict_with_fold_models(run_dir, n_folds: int, X: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """(n_folds, N) P(malignant) of images ``X`` by each fold's model, each with its own normalisation."""
    probs = []
    for fold in range(1, n_folds + 1):
        model, meta = checkpoint.load_model(run_folder.fold_paths(run_dir, fold)["model"])
        probs.append(predict(model, X, Normalisation.from_dict(meta["normalisation"]), batch_size, "cpu"))
    return np.stack(probs)


def evaluate(config: Config, run_dir, train_data: Prepared) -> TestResult | None:
    """Predict the configured test set with the finished fold models; None when no test set is configured."""
    if not config.data.test_source:
        return None
    data = load_test_data(config, run_dir)
    per_model = predict_with_fold_models(run_dir, config.cv.folds, data.X, config.train.batch_size)
    probs = per_model.mean(axis=0)
    predictions = Predictions(data.case_ids, data.patient_ids, np.full(len(data.y), TEST_FOLD), data.y, probs,
                              config.cv.threshold)
    metrics = summarize(data.y, probs, predictions.folds, data.patient_ids, threshold=config.cv.threshold,
                        bootstrap_replicates=config.cv.bootstrap, seed=config.seed)
    shared = sorted(set(data.patient_ids.tolist()) & set(train_data.patient_ids.tolist()))
    if shared:
        run_folder.log(run_dir, f"test set: {len(shared)} patient id(s) also in the training set: {shared[:20]}")
    return TestResult(config.data.test_source, data, predictions, per_model, metrics, shared)
