"""The outputs of a run, rendered from its evaluation: ``render(evaluation, setup, folder)`` writes
``predictions.csv``, ``metrics.json``, ``folds.csv``, the figures (ROC, confusion matrix, learning curves,
reliability diagram, Grad-CAM gallery, worst false negatives; with a test set its predictions and ROC) and
``report.md``. Nothing here computes a result: every number comes from the ``RunEvaluation``
(``femur_app.evaluation.run``) and every word about the run from the ``RunSetup`` (``femur_app.reporting.setup``).

``metrics.json`` is ``metrics_record(evaluation)``: the evaluation's values under fixed names, undefined ones null.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from femur_app.evaluation.baselines import Baselines
from femur_app.evaluation.calibration import Calibration
from femur_app.evaluation.independent import IndependentResult
from femur_app.evaluation.metrics import Summary, to_json_safe
from femur_app.evaluation.operating_point import OperatingPoint
from femur_app.evaluation.predictions import csv_text
from femur_app.evaluation.run import RunEvaluation
from femur_app.reporting import plots
from femur_app.reporting.report import PAPER_TABLES, write_report
from femur_app.reporting.sections import failure_record, test_predictor
from femur_app.reporting.setup import RunSetup
from minicnn.serialize import write_text_atomic


def render(ev: RunEvaluation, setup: RunSetup, folder) -> None:
    """Every output file of the run into ``folder``."""
    folder = Path(folder)
    predictions = ev.predictions
    predictions.write_csv(folder / "predictions.csv")
    write_text_atomic(folder / "metrics.json", json.dumps(metrics_record(ev), indent=2))
    rows = folds_rows(ev)
    write_text_atomic(folder / "folds.csv", csv_text(list(rows[0]), [list(r.values()) for r in rows]))
    paper = PAPER_TABLES["AlexNet-BN"]
    plots.plot_roc(predictions.labels, predictions.probs, predictions.folds, folder / "roc.png",
                   paper_point=(1 - paper["specificity"] / 100, paper["sensitivity"] / 100))
    plots.plot_confusion(ev.summary.pooled.confusion, predictions.threshold, folder / "confusion_matrix.png")
    plots.plot_learning_curves({fold.fold: fold.history for fold in ev.finished if fold.history},
                               folder / "learning_curves.png")
    plots.plot_reliability(ev.calibration.reliability, folder / "reliability.png",
                           "Reliability of the out-of-fold P(malignant)")
    plots.plot_gallery(ev.gallery.chosen, folder / "gallery.png")
    if ev.worst_false_negatives:
        plots.plot_cases([ev.data.X[f.index, 0] for f in ev.worst_false_negatives],
                         [ev.data.masks[f.index] for f in ev.worst_false_negatives],
                         [f"{f.case_id} p={f.prob_malignant:.2f}" for f in ev.worst_false_negatives],
                         folder / "failures.png")
    if ev.test is not None:
        ev.test.predictions.write_csv(folder / "test_predictions.csv")
        plots.plot_roc_cv_test(predictions.labels, predictions.probs, ev.test.predictions.labels,
                               ev.test.predictions.probs, folder / "roc_test.png")
    write_text_atomic(folder / "report.md", write_report(ev, setup))


def metrics_record(ev: RunEvaluation) -> dict:
    """metrics.json's content: the pooled summary, then every other result under its name (null for NaN)."""
    record = summary_record(ev.summary)
    record.update({
        "calibration": calibration_record(ev.calibration),
        "baselines": baselines_record(ev.baselines),
        "operating_point": operating_point_record(ev.operating_point),
        "gradcam_inside_lesion": {outcome: asdict(share) for outcome, share in ev.gallery.inside.items()},
        "gradcam_baselines": None if ev.gallery.baselines is None else {
            "cases": ev.gallery.baselines.cases, "trained_mean": ev.gallery.baselines.mean,
            "rows": [asdict(row) for row in ev.gallery.baselines.rows]},
        "data_facts": asdict(ev.data_facts),
        "otsu_vs_truth": {name: asdict(agreement) for name, agreement in ev.otsu_vs_truth.items()},
        "subgroups": [asdict(row) for row in ev.subgroups],
        "worst_false_negatives": [failure_record(failure) for failure in ev.worst_false_negatives],
        "counterfactual_signs": [asdict(row) for row in ev.counterfactuals]})
    if ev.test is not None:
        record["test"] = test_record(ev.test)
    if ev.btxrd is not None:
        record["btxrd"] = asdict(ev.btxrd)
    if ev.partial:
        record["folds_finished"] = [fold.fold for fold in ev.finished]
        record["folds_total"] = ev.folds_total
    return to_json_safe(record)


def summary_record(summary: Summary) -> dict:
    """A ``Summary`` as metrics.json holds it (the metrics.json of the radiomics baseline is this alone)."""
    return to_json_safe(summary)


def calibration_record(calibration: Calibration) -> dict:
    """ECE with its bins, and the calibration slope and intercept."""
    rel = calibration.reliability
    return {"ece": rel.ece, "bins": len(rel.counts), "counts": rel.counts.tolist(),
            "mean_predicted": rel.mean_predicted.tolist(), "observed_fraction": rel.observed_fraction.tolist(),
            "slope": calibration.slope, "intercept": calibration.intercept,
            "slope_ci95": list(calibration.slope_ci95), "slope_defined": calibration.slope_defined,
            "logit_sd": calibration.logit_sd}


def operating_point_record(point: OperatingPoint | None) -> dict | None:
    """The fold thresholds (keyed by the fold's number as text, as JSON keys are) and the pooled calls at them."""
    if point is None:
        return None
    return {**asdict(point), "thresholds": {str(fold): value for fold, value in point.thresholds.items()}}


def baselines_record(baselines: Baselines | None) -> dict | None:
    """Each baseline's AUC, its interval and DeLong's comparison with the CNN (CNN minus baseline)."""
    if baselines is None:
        return None
    return {"cnn_auc_ci95": list(baselines.cnn_ci95),
            "rows": [{"name": row.name, "auc": row.auc, "ci95": list(row.ci95),
                      "cnn_minus_baseline": row.versus_cnn.difference,
                      "difference_ci95": list(row.versus_cnn.ci95), "p_value": row.versus_cnn.p_value}
                     for row in baselines.rows]}


def test_record(test: IndependentResult) -> dict:
    """The independent test set's entry of metrics.json."""
    return {**summary_record(test.summary), "source": test.data.source, "description": test.data.description,
            "facts": asdict(test.facts), "calibration": calibration_record(test.calibration),
            "shared_patients": test.shared_patients, "near_duplicates": [asdict(p) for p in test.near_duplicates],
            "per_model_auc": test.per_model_auc,
            "external": test.external, "scope": test.scope,
            "predictor": test_predictor(test)}


def folds_rows(ev: RunEvaluation) -> list[dict]:
    """One row per finished fold for folds.csv: its run (epochs, status, time, last losses) and its metrics."""
    per_fold = {m.fold: m for m in ev.summary.per_fold}
    rows = []
    for fold in ev.finished:
        last = fold.history[-1] if fold.history else None
        m = per_fold[fold.fold]
        rows.append({"fold": fold.fold, "n_train": fold.n_train, "n_test": fold.n_test,
                     "n_test_malignant": m.malignant, "epochs_run": fold.epochs_run, "status": fold.status,
                     "seconds": round(fold.seconds, 1), "operating_threshold": fold.operating_threshold,
                     "final_train_loss": None if last is None else last.train_loss,
                     "final_heldout_loss": None if last is None else last.heldout_loss,
                     **{k: getattr(m, k) for k in ("accuracy", "sensitivity", "specificity", "f1", "auc")},
                     "message": fold.message})
    return rows
