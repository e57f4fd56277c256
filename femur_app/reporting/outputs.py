"""The outputs of a run, built from the pooled predictions in memory: ``predictions.csv``, ``metrics.json``,
``folds.csv``, the figures (ROC, confusion matrix, learning curves, reliability diagram, Grad-CAM gallery) and
``report.md``, plus the words the report uses to describe the model and the protocol."""
from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np

from femur_app.config import Config
from femur_app.data.dataset import Prepared
from femur_app.evaluation import counterfactual, gallery, roi_agreement
from femur_app.evaluation.calibration import calibration_slope_intercept, plot_reliability, reliability
from femur_app.evaluation.data_facts import facts
from femur_app.evaluation.metrics import auc, summarize, to_json_safe
from femur_app.evaluation.subgroups import synthetic_subgroups, worst_false_negatives
from femur_app.models.alexnet import ALEXNET_CHANNELS, ALEXNET_FC, feature_sizes
from femur_app.models.fold_model import FoldModel
from femur_app.models.width import scaled
from femur_app.reporting import plots
from femur_app.reporting.predictions import Predictions, csv_text
from femur_app.reporting.report import PAPER_TABLES, write_report
from minicnn.serialize import write_text_atomic


def write_outputs(run_dir: Path, data: Prepared, predictions: Predictions, results: list[dict],
                  models: dict[int, FoldModel], config: Config, run_info: dict, test=None) -> dict:
    """Every output file of the run from the finished folds' ``results`` and ``models`` and, when one was
    configured, the independent test set's ``test`` (``femur_app.training.test_set.TestResult``); returns
    metrics.json's content."""
    predictions.write_csv(run_dir / "predictions.csv")
    labels, probs, folds = predictions.labels, predictions.probs, predictions.folds
    metrics = summarize(labels, probs, folds, predictions.patient_ids, threshold=predictions.threshold,
                        bootstrap_replicates=config.cv.bootstrap, seed=config.seed)
    rel = reliability(labels, probs)
    metrics["calibration"] = calibration_entry(labels, probs)
    plot_reliability(rel, run_dir / "reliability.png", "Reliability of the out-of-fold P(malignant)")
    chosen, inside = gallery.build(models, data, predictions)
    gallery.plot(chosen, run_dir / "gallery.png")
    metrics["gradcam_inside_lesion"] = gallery.summarize(inside)
    metrics["data_facts"] = facts(data, config.data.modality)
    metrics["otsu_vs_truth"] = (roi_agreement.by_class(data.X, data.masks, data.y) if config.data.roi == "otsu"
                                else {})
    signs = data.signs  # None for folder data
    metrics["subgroups"] = ([] if signs is None else
                            synthetic_subgroups(labels, probs, signs, predictions.threshold))
    metrics["worst_false_negatives"] = write_failures(run_dir, data, predictions, signs)
    metrics["counterfactual_signs"] = [] if signs is None else counterfactual.sign_tests(models, data, predictions)
    if test is not None:
        metrics["test"] = write_test(run_dir, test, config, predictions)
    write_text_atomic(run_dir / "metrics.json", json.dumps(to_json_safe(metrics), indent=2))
    fold_rows = folds_table_rows(results, metrics)
    write_text_atomic(run_dir / "folds.csv", csv_text(list(fold_rows[0]), [list(r.values()) for r in fold_rows]))
    paper = PAPER_TABLES["AlexNet-BN"]
    plots.plot_roc(labels, probs, folds, run_dir / "roc.png",
                   paper_point=(1 - paper["specificity"] / 100, paper["sensitivity"] / 100))
    plots.plot_confusion(metrics["pooled"]["confusion"], predictions.threshold, run_dir / "confusion_matrix.png")
    plots.plot_learning_curves({r["fold"]: r["history"] for r in results if r["history"]},
                               run_dir / "learning_curves.png")
    run_info = {**run_info, "time": f"training {duration(sum(r['seconds'] for r in results))} summed over folds "
                                    f"(all sessions); this session {duration(run_info['session_seconds'])} wall clock "
                                    f"including {run_info['data_seconds']:.0f} s of data preparation"}
    run_info = {**run_info, "config": config}
    write_text_atomic(run_dir / "report.md", write_report(metrics, fold_rows, run_info))
    return metrics


def calibration_entry(labels, probs) -> dict:
    """ECE with its bins, and the calibration slope and intercept, for metrics.json."""
    rel = reliability(labels, probs)
    return {"ece": rel.ece, "bins": len(rel.counts), "counts": rel.counts.tolist(),
            "mean_predicted": rel.mean_predicted.tolist(), "observed_fraction": rel.observed_fraction.tolist(),
            **calibration_slope_intercept(labels, probs)}


def write_failures(run_dir: Path, data: Prepared, predictions: Predictions, signs) -> list[dict]:
    """``failures.png`` (the worst false negatives' ROIs) and their list for metrics.json."""
    worst = worst_false_negatives(predictions.labels, predictions.probs, predictions.threshold)
    rows = []
    for i in worst:
        row = {"case_id": str(predictions.case_ids[i]), "fold": int(predictions.folds[i]),
               "prob_malignant": float(predictions.probs[i])}
        if signs is not None:
            s = signs[i]
            row.update(diameter_mm=round(float(s.diameter_mm), 1), breach=bool(s.breach),
                       periosteal=s.periosteal, oedema=s.oedema > 0, rim=s.rim > 0,
                       aggressiveness=round(float(s.aggressiveness), 3))
        rows.append(row)
    if len(worst):
        plots.plot_cases([data.X[i, 0] for i in worst], [data.masks[i] for i in worst],
                         [f"{r['case_id']} p={r['prob_malignant']:.2f}" for r in rows], run_dir / "failures.png")
    return rows


def write_test(run_dir: Path, test, config: Config, predictions: Predictions) -> dict:
    """``test_predictions.csv`` and ``roc_test.png`` of the independent test set; its metrics.json entry."""
    test.predictions.write_csv(run_dir / "test_predictions.csv")
    y, p = test.predictions.labels, test.predictions.probs
    plots.plot_roc_cv_test(predictions.labels, predictions.probs, y, p, run_dir / "roc_test.png")
    return {**test.metrics, "source": test.source, "description": test.data.description,
            "facts": facts(test.data, config.data.modality),
            "calibration": calibration_entry(y, p), "shared_patients": test.shared_patients,
            "per_model_auc": [auc(y, q) for q in test.per_model],
            "predictor": f"mean P(malignant) of the {len(test.per_model)} fold models"}


def folds_table_rows(results: list[dict], metrics: dict) -> list[dict]:
    """One row per fold for folds.csv and the report: its run (epochs, status, time, losses) and its metrics."""
    per_fold = {m["fold"]: m for m in metrics["per_fold"]}
    rows = []
    for result in sorted(results, key=lambda r: r["fold"]):
        last = result["history"][-1] if result["history"] else {}
        m = per_fold[result["fold"]]
        rows.append({"fold": result["fold"], "n_train": result["n_train"], "n_test": result["n_test"],
                     "n_test_malignant": m["malignant"], "epochs_run": result["epochs_run"],
                     "status": result["status"], "seconds": round(result["seconds"], 1),
                     "final_train_loss": last.get("train_loss"), "final_heldout_loss": last.get("heldout_loss"),
                     **{k: m[k] for k in ("accuracy", "sensitivity", "specificity", "f1", "auc")},
                     "message": result["message"]})
    return rows


def duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def software_versions(device: str) -> str:
    import scipy
    import skimage
    import sklearn

    import minicnn

    return (f"Python {platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}, "
            f"scikit-learn {sklearn.__version__}, scikit-image {skimage.__version__}, minicnn {minicnn.__version__}; "
            f"{platform.platform()}, device {device}")


def describe_model(config: Config) -> str:
    m, size = config.model, config.data.input_size
    name = {"alexnet_bn": "AlexNet-BN", "alexnet": "AlexNet (no batch norm)"}.get(m.name, m.name)
    widths = "-".join(str(scaled(c, m.width)) for c in ALEXNET_CHANNELS)
    fc = scaled(ALEXNET_FC, m.width)
    paper = m.name == "alexnet_bn" and m.width == 1.0 and size == 224
    kind = "the paper's network" if paper else "a reduced CPU variant, not the paper's network"
    return (f"{name}, {kind}: conv {widths}, FC {fc}-{fc}, input {size} x {size} (feature maps "
            f"{' -> '.join(map(str, feature_sizes(size)))}), dropout {m.dropout} after fc6 and fc7, "
            f"L2 {m.l2:g} on {', '.join(m.l2_layers)}")


ROI_WORDS = {"otsu": "the lesion box + 20 px, masked by Otsu's threshold and the largest region (the paper's)",
             "box": "the lesion box + 20 px, unmasked (data.roi = box, not the paper's)",
             "mask": "the lesion box + 20 px, masked by the true lesion mask (data.roi = mask, not the paper's)"}


def describe_protocol(config: Config) -> str:
    t, cv = config.train, config.cv
    init_text = f"conv weights N(0, {t.init_std:g}^2)" if t.init == "normal" else "He-normal weights"
    aug = ", ".join(f"{k} {v}" for k, v in config.to_dict()["augment"].items())
    return (f"ROI: {ROI_WORDS[config.data.roi]}; "
            f"{cv.folds}-fold cross-validation stratified by label and grouped by patient; {t.epochs} epochs, "
            f"batch {t.batch_size}, SGD lr {t.lr:g} momentum {t.momentum:g}"
            f"{' (Nesterov)' if t.nesterov else ''}, {t.schedule} schedule, {init_text}; "
            f"augmentation in the training fold only ({aug}); normalisation statistics from the training fold")
