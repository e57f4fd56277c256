"""Repeated cross-validation (``cv.repeats`` = K > 1, ``--repeats K``): the whole K-fold cross-validation K times,
each repetition with a new seed, so with a new fold split *and* new initial weights, batch orders, augmentation
and dropout.

Repetition r runs into ``<run_dir>/repeat_rr`` as an ordinary run (its own report, resumable); repetition 1 uses
the configured ``seed`` itself, so it is exactly the single run, and repetition r > 1 the seed
``SeedSequence(seed, spawn_key=(r,)).generate_state(1)[0]``. The top folder gets ``metrics.json`` and
``report.md`` with each repetition's pooled AUC and accuracy, their mean and sample sd, and an interval that
includes training variance:

    two-level bootstrap: each of B replicates draws one repetition r uniformly and then the patients with
    replacement (``default_rng(seed)``), and recomputes the metric from repetition r's out-of-fold predictions
    of the drawn patients; the 2.5th and 97.5th percentiles of the B values.

The interval is thus that of *one* model trained by this procedure on this many patients: its spread holds
both the sampling of patients and the variation between trainings (split, initialisation, batch order) that a
single run's patient bootstrap leaves out. ``RunResult.predictions`` holds each case's P(malignant) averaged
over the repetitions (folds as in repetition 1), which ``compare`` tests with DeLong.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from femur_app.config import Config, to_toml
from femur_app.evaluation.metrics import Confusion, auc, mean_sd, percentile_interval, to_json_safe
from femur_app.reporting.predictions import Predictions
from femur_app.training.cross_validation import RunResult
from femur_app.training.run_folder import lock
from minicnn.serialize import write_text_atomic


def repetition_seed(seed: int, repetition: int) -> int:
    """Repetition 1: ``seed``; repetition r > 1: a seed derived from (seed, r)."""
    if repetition == 1:
        return seed
    return int(np.random.SeedSequence(seed, spawn_key=(repetition,)).generate_state(1)[0])


def repetition_config(config: Config, repetition: int) -> Config:
    return dataclasses.replace(config, seed=repetition_seed(config.seed, repetition),
                               cv=dataclasses.replace(config.cv, repeats=1))


def two_level_bootstrap(labels, probs_by_repetition, patient_ids, threshold: float, replicates: int,
                        seed: int) -> dict:
    """Percentile 95% intervals of AUC and accuracy over (repetition, patient sample) draws (module docstring)."""
    labels = np.asarray(labels)
    probs = np.asarray(probs_by_repetition, dtype=float)  # (K, N)
    patients, index = np.unique(np.asarray(patient_ids), return_inverse=True)
    cases_of = [np.flatnonzero(index == p) for p in range(len(patients))]
    rng = np.random.default_rng(seed)
    aucs, accuracies = [], []
    for _ in range(replicates):
        r = int(rng.integers(0, len(probs)))
        cases = np.concatenate([cases_of[p] for p in rng.integers(0, len(patients), len(patients))])
        accuracies.append(float((((probs[r, cases] >= threshold).astype(int)) == labels[cases]).mean()))
        if len(np.unique(labels[cases])) == 2:
            aucs.append(auc(labels[cases], probs[r, cases]))
    return {"auc": percentile_interval(aucs), "accuracy": percentile_interval(accuracies),
            "replicates": replicates, "seed": seed}


def summarize_repeats(results: list[RunResult], seeds: list[int], threshold: float, replicates: int,
                      seed: int) -> dict:
    """metrics.json of a repeated run: per repetition, mean and sd, and the two-level bootstrap interval."""
    first = results[0].predictions
    for r in results[1:]:
        if not np.array_equal(r.predictions.case_ids, first.case_ids):
            raise AssertionError("repetitions predicted different cases")
    labels = first.labels
    probs = np.stack([r.predictions.probs for r in results])
    rows = []
    for number, (result, s) in enumerate(zip(results, seeds), start=1):
        rates = Confusion.of(labels, result.predictions.probs >= threshold).rates()
        row = {"repetition": number, "seed": s, "auc": auc(labels, result.predictions.probs),
               **{k: rates[k] for k in ("accuracy", "sensitivity", "specificity")}}
        if "test" in result.metrics:
            row["test_auc"] = result.metrics["test"]["pooled"]["auc"]["value"]
        rows.append(row)
    interval = two_level_bootstrap(labels, probs, first.patient_ids, threshold, replicates, seed)
    summary = {"repetitions": rows,
               "mean_sd": {k: mean_sd([row[k] for row in rows]) for k in rows[0] if k not in ("repetition", "seed")},
               "ci95_with_training_variance": interval,
               "ci_method": "two-level bootstrap: a repetition drawn uniformly, then patients with replacement",
               "averaged_auc": auc(labels, probs.mean(axis=0))}
    return summary


def run_repeated(config: Config, run_dir, run_one) -> RunResult:
    """``config.cv.repeats`` repetitions, each ``run_one(config_r, run_dir / "repeat_rr")`` -> RunResult."""
    run_dir = Path(run_dir)
    with lock(run_dir):  # the top folder is one run's too; each repeat_rr folder is locked by its own run
        write_text_atomic(run_dir / "config.toml", to_toml(config))
        configs = [repetition_config(config, r) for r in range(1, config.cv.repeats + 1)]
        results = [run_one(c, run_dir / f"repeat_{r:02d}") for r, c in enumerate(configs, start=1)]
        summary = summarize_repeats(results, [c.seed for c in configs], config.cv.threshold, config.cv.bootstrap,
                                    config.seed)
        first = results[0]
        mean_probs = np.mean([r.predictions.probs for r in results], axis=0)
        predictions = Predictions(first.predictions.case_ids, first.predictions.patient_ids, first.predictions.folds,
                                  first.predictions.labels, mean_probs, config.cv.threshold)
        metrics = {**first.metrics, "repeats": summary}
        write_text_atomic(run_dir / "metrics.json", json.dumps(to_json_safe(metrics), indent=2))
        write_text_atomic(run_dir / "report.md", repeats_report(summary, config))
    return RunResult(run_dir, first.data, predictions, metrics)


def repeats_report(summary: dict, config: Config) -> str:
    rows = summary["repetitions"]
    test = "test_auc" in rows[0]
    lines = [f"# Repeated cross-validation: {len(rows)} x {config.cv.folds}-fold", "",
             "Each repetition is a complete run with its own seed: a new fold split and new initial weights, batch "
             "order, augmentation and dropout (`femur_app.training.repeats`). Repetition 1 uses the configured "
             "seed; each repetition's own report is in its folder.", "",
             "| repetition | seed | pooled AUC | accuracy % | sensitivity % | specificity % |"
             + (" test AUC |" if test else ""),
             "|---|---|---|---|---|---|" + ("---|" if test else "")]
    for row in rows:
        lines.append(f"| [{row['repetition']}](repeat_{row['repetition']:02d}/report.md) | {row['seed']} | "
                     f"{row['auc']:.3f} | {100 * row['accuracy']:.2f} | {100 * row['sensitivity']:.2f} | "
                     f"{100 * row['specificity']:.2f} |" + (f" {row['test_auc']:.3f} |" if test else ""))
    ms, ci = summary["mean_sd"], summary["ci95_with_training_variance"]
    lines += ["", f"Mean ± sd over the repetitions: AUC {ms['auc']['mean']:.3f} ± {ms['auc']['sd']:.3f}, accuracy "
                  f"{100 * ms['accuracy']['mean']:.2f} ± {100 * ms['accuracy']['sd']:.2f}%"
                  + (f", test AUC {ms['test_auc']['mean']:.3f} ± {ms['test_auc']['sd']:.3f}" if test else "") + ".",
              "",
              f"95% interval including training variance ({summary['ci_method']}, {ci['replicates']} replicates): "
              f"AUC [{ci['auc'][0]:.3f}, {ci['auc'][1]:.3f}], accuracy [{100 * ci['accuracy'][0]:.2f}, "
              f"{100 * ci['accuracy'][1]:.2f}]%. It is the interval of one model trained by this procedure; a single "
              "run's patient-bootstrap interval treats its fold models as fixed and leaves this spread out.", "",
              f"AUC of each case's P(malignant) averaged over the repetitions (an ensemble, used by `compare`): "
              f"{summary['averaged_auc']:.3f}.", ""]
    return "\n".join(lines)
