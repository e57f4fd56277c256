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
from femur_app.evaluation import gallery
from femur_app.evaluation.calibration import plot_reliability, reliability
from femur_app.evaluation.metrics import summarize, to_json_safe
from femur_app.models.alexnet import ALEXNET_CHANNELS, ALEXNET_FC, feature_sizes
from femur_app.models.width import scaled
from femur_app.reporting import plots
from femur_app.reporting.predictions import Predictions, csv_text
from femur_app.reporting.report import PAPER_TABLES, write_report
from minicnn.serialize import write_text_atomic


def write_outputs(run_dir: Path, data: Prepared, predictions: Predictions, results: list[dict], config: Config,
                  run_info: dict) -> dict:
    """Every output file of the run from the finished folds' ``results``; returns metrics.json's content."""
    predictions.write_csv(run_dir / "predictions.csv")
    labels, probs, folds = predictions.labels, predictions.probs, predictions.folds
    metrics = summarize(labels, probs, folds, predictions.patient_ids, threshold=predictions.threshold,
                        bootstrap_replicates=config.cv.bootstrap, seed=config.seed)
    rel = reliability(labels, probs)
    metrics["calibration"] = {"ece": rel.ece, "bins": len(rel.counts), "counts": rel.counts.tolist(),
                              "mean_predicted": rel.mean_predicted.tolist(),
                              "observed_fraction": rel.observed_fraction.tolist()}
    plot_reliability(rel, run_dir / "reliability.png", "Reliability of the out-of-fold P(malignant)")
    chosen, inside = gallery.build(run_dir, data, predictions)
    gallery.plot(chosen, run_dir / "gallery.png")
    metrics["gradcam_inside_lesion"] = gallery.summarize(inside)
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
    write_text_atomic(run_dir / "report.md", write_report(metrics, fold_rows, run_info))
    return metrics


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


def describe_protocol(config: Config) -> str:
    t, cv = config.train, config.cv
    init_text = f"conv weights N(0, {t.init_std:g}^2)" if t.init == "normal" else "He-normal weights"
    aug = ", ".join(f"{k} {v}" for k, v in config.to_dict()["augment"].items())
    return (f"{cv.folds}-fold cross-validation stratified by label and grouped by patient; {t.epochs} epochs, "
            f"batch {t.batch_size}, SGD lr {t.lr:g} momentum {t.momentum:g}"
            f"{' (Nesterov)' if t.nesterov else ''}, {t.schedule} schedule, {init_text}; "
            f"augmentation in the training fold only ({aug}); normalisation statistics from the training fold")
