"""The Grad-CAM gallery of a finished run: true/false positives/negatives and where the network looked.

For each outcome (TP, FP, FN, TN at the run's threshold) it takes up to ``per_outcome`` cases, the most confident
first, explains each with the model of the fold that held it out (a ``FoldModel``) at the layer that
model names (``model.gradcam_layer``) and draws the preprocessed ROI with its heat map. Where the true lesion
mask is known (the synthetic set, or a ``mask_path`` column), the prepared data carry it in the ROI's
coordinates, and the report gives the share of the heat map that falls inside it - for every held-out case, not
only the drawn ones - beside its chance baseline for the same cases: the share a uniform heat map would put
inside the lesion, which is the lesion's share of the ROI's pixels. A Grad-CAM share at or below that baseline
says the network's attention is no more on the lesion than a map that looks everywhere.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from femur_app.data.dataset import Prepared
from femur_app.evaluation.gradcam import fraction_inside, grad_cam
from femur_app.models.fold_model import FoldModel
from femur_app.reporting.predictions import Predictions

OUTCOMES = ("TP", "FP", "FN", "TN")


def outcome(label: int, pred: int) -> str:
    return {(1, 1): "TP", (0, 1): "FP", (1, 0): "FN", (0, 0): "TN"}[(label, pred)]


def build(models: dict[int, FoldModel], data: Prepared, predictions: Predictions, per_outcome: int = 2):
    """Heat maps of the whole run -> (gallery entries, per outcome the (Grad-CAM share, uniform-map share)
    inside the lesion of every case with a mask).

    ``predictions`` are in ``data``'s case order; ``models``: the fold models by fold.
    """
    preds = predictions.preds
    entries, inside = [], {o: [] for o in OUTCOMES}
    for fold in np.unique(predictions.folds):
        model = models[int(fold)].model
        idx = np.flatnonzero(predictions.folds == fold)
        x = models[int(fold)].standardise(data.X[idx])
        maps = np.concatenate([grad_cam(model, x[s:s + 32], preds[idx[s:s + 32]], model.gradcam_layer)
                               for s in range(0, len(x), 32)])
        for i, heat in zip(idx, maps):
            kind = outcome(int(predictions.labels[i]), int(preds[i]))
            mask = data.masks[i]
            share = None if mask is None or not mask.any() else fraction_inside(heat, mask)
            if share is not None:
                inside[kind].append((share, float(mask.mean())))  # a uniform map's share: the lesion's area share
            entries.append({"case_id": predictions.case_ids[i], "outcome": kind, "prob": float(predictions.probs[i]),
                            "image": data.X[i, 0], "heat": heat, "mask": mask, "inside": share})
    chosen = []
    for kind in OUTCOMES:
        group = sorted((e for e in entries if e["outcome"] == kind), key=lambda e: -abs(e["prob"] - 0.5))
        chosen += group[:per_outcome]
    return chosen, inside


def plot(chosen, path) -> Path:
    from femur_app.reporting.plots import plt, save_figure

    cols = max(1, len(chosen))
    fig, axes = plt.subplots(1, cols, figsize=(2.3 * cols, 2.6), squeeze=False)
    for ax, e in zip(axes[0], chosen):
        ax.imshow(e["image"], cmap="gray")
        ax.imshow(e["heat"], cmap="jet", alpha=0.4, vmin=0, vmax=1)
        if e["mask"] is not None:
            ax.contour(e["mask"], levels=[0.5], colors="white", linewidths=0.8)
        share = "" if e["inside"] is None else f", {100 * e['inside']:.0f}% in lesion"
        ax.set_title(f"{e['outcome']} p={e['prob']:.2f}{share}", fontsize=7)
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def summarize(inside: dict) -> dict:
    """{outcome: {"cases": n, "mean": mean Grad-CAM share inside the lesion, "uniform": mean share of a uniform
    map (the chance baseline), "above_uniform": share of cases where Grad-CAM beats it}} (None without cases)."""
    summary = {}
    for kind, pairs in inside.items():
        shares = np.array(pairs, dtype=float).reshape(-1, 2)
        summary[kind] = {"cases": len(shares),
                         "mean": float(shares[:, 0].mean()) if len(shares) else None,
                         "uniform": float(shares[:, 1].mean()) if len(shares) else None,
                         "above_uniform": float((shares[:, 0] > shares[:, 1]).mean()) if len(shares) else None}
    return summary


def markdown(summary: dict) -> list[str]:
    """The report's gallery section from ``summarize``'s output."""
    lines = ["### Where the network looked (Grad-CAM at the last convolutional stage)", "",
             "True/false positives and negatives, the most confident of each first, with the heat map of the "
             "predicted class over the preprocessed ROI (white outline: the true lesion, where known).", "",
             "![Grad-CAM gallery](gallery.png)", ""]
    if any(v["cases"] for v in summary.values()):
        lines += ["Share of the heat map inside the true lesion mask, over every held-out case with a mask, beside "
                  "the chance baseline for the same cases: a uniform map's share, i.e. the lesion's share of the "
                  "ROI's pixels.", "",
                  "| outcome | cases | mean share inside the lesion | uniform map (chance) | cases above chance |",
                  "|---|---|---|---|---|"]
        lines += [f"| {k} | {v['cases']} | {100 * v['mean']:.1f}% | {100 * v['uniform']:.1f}% | "
                  f"{100 * v['above_uniform']:.0f}% |" for k, v in summary.items() if v["cases"]]
        lines.append("")
    return lines
