"""Repeated cross-validation (``cv.repeats`` = K > 1, ``--repeats K``): the whole K-fold cross-validation K times,
each repetition with a new seed, so with a new fold split *and* new initial weights, batch orders, augmentation
and dropout.

Repetition r runs into ``<run_dir>/repeat_rr`` as an ordinary run (its own report, resumable); repetition 1 uses
the configured ``seed`` itself, so it is exactly the single run, and repetition r > 1 the seed
``SeedSequence(seed, spawn_key=(r,)).generate_state(1)[0]``. The top folder gets ``metrics.json`` and
``report.md`` with each repetition's pooled AUC and accuracy, their mean and sample sd, and an interval that
includes training variance (computed by ``femur_app.evaluation.repeats``, written by
``femur_app.reporting.repeats``). ``RunResult.predictions`` holds each case's P(malignant) averaged
over the repetitions (folds as in repetition 1), ``RunResult.repetitions`` each repetition's own predictions,
which ``compare`` tests repetition by repetition (``femur_app.evaluation.repeated_delong``).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from femur_app.config import Config, to_toml
from femur_app.evaluation.predictions import Predictions
from femur_app.evaluation.repeats import summarize_repeats
from femur_app.reporting.outputs import metrics_record, summary_record
from femur_app.reporting.repeats import repeats_record, repeats_report
from femur_app.training.cross_validation import RunResult
from femur_app.training.run_folder import check_same_config, lock
from minicnn.serialize import write_text_atomic


def repetition_seed(seed: int, repetition: int) -> int:
    """Repetition 1: ``seed``; repetition r > 1: a seed derived from (seed, r)."""
    if repetition == 1:
        return seed
    return int(np.random.SeedSequence(seed, spawn_key=(repetition,)).generate_state(1)[0])


def run_repeated(config: Config, run_dir, run_one, restart: bool = False) -> RunResult:
    """``config.cv.repeats`` repetitions, each ``run_one(config_r, run_dir / "repeat_rr")`` -> RunResult.

    The top folder is a run folder of its own kind (``run_folder.KINDS["repeats"]``: a single run's folder is
    refused, and a repetition's folder is a single run's), locked meanwhile; its ``config.toml`` is checked
    against ``config`` before anything is written (``restart``: each repetition starts over instead)."""
    run_dir = Path(run_dir)
    with lock(run_dir, "repeats"):  # each repeat_rr folder is locked by its own run
        if not restart:
            check_same_config(run_dir, config)
        write_text_atomic(run_dir / "config.toml", to_toml(config))
        configs = [dataclasses.replace(config, seed=repetition_seed(config.seed, r),
                                       cv=dataclasses.replace(config.cv, repeats=1))
                   for r in range(1, config.cv.repeats + 1)]
        results = [run_one(c, run_dir / f"repeat_{r:02d}") for r, c in enumerate(configs, start=1)]
        test_aucs = [r.evaluation.test.summary.pooled.auc.value if r.evaluation and r.evaluation.test else None
                     for r in results]
        summary = summarize_repeats([r.predictions for r in results], [c.seed for c in configs], test_aucs,
                                    config.cv.threshold, config.cv.bootstrap, config.seed)
        first = results[0]
        mean_probs = np.mean([r.predictions.probs for r in results], axis=0)
        predictions = Predictions(first.predictions.case_ids, first.predictions.patient_ids, first.predictions.folds,
                                  first.predictions.labels, mean_probs, config.cv.threshold)
        first_record = metrics_record(first.evaluation) if first.evaluation else summary_record(first.summary)
        write_text_atomic(run_dir / "metrics.json",
                          json.dumps({**first_record, "repeats": repeats_record(summary)}, indent=2))
        write_text_atomic(run_dir / "report.md", repeats_report(summary, config.cv.folds))
    return RunResult(run_dir, first.data, predictions, first.summary, repeats=summary,
                     repetitions=[r.predictions for r in results])
