"""The Grad-CAM gallery of a finished run: true/false positives/negatives and where the network looked.

For each outcome (TP, FP, FN, TN at the run's threshold) it takes up to ``per_outcome`` cases, the most confident
first, explains each with the model of the fold that held it out (``checkpoints/fold_NN.npz``) and draws the
preprocessed ROI with its Grad-CAM map at conv5. Where the true lesion mask is known (the synthetic set, or a
``mask_path`` column), the mask is carried through the same crop and resize as the image and the report gives
the share of the heat map that falls inside it - for every held-out case, not only the drawn ones.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from femur_app.models import checkpoint
from femur_app.evaluation.gradcam import fraction_inside, grad_cam
from femur_app.data.preprocess import crop_with_margin, resize

OUTCOMES = ("TP", "FP", "FN", "TN")
LAYER = {"alexnet_bn": "conv5", "alexnet": "conv5", "googlenet": "inception5b"}  # the last convolutional stage


def outcome(label: int, pred: int) -> str:
    return {(1, 1): "TP", (0, 1): "FP", (1, 0): "FN", (0, 0): "TN"}[(label, pred)]


def roi_mask(case, size: int, margin: int) -> np.ndarray | None:
    """The true lesion mask in the preprocessed ROI's coordinates (same crop, square padding and resize)."""
    if case.mask is None:
        return None
    crop, _ = crop_with_margin(case.mask.astype(np.float32), case.box, margin)
    return resize(crop, size) > 0.5


def build(run_dir, data, cases_by_id: dict, per_outcome: int = 2):
    """Heat maps of the whole run -> (gallery entries, fractions inside the lesion per outcome)."""
    run_dir = Path(run_dir)
    with open(run_dir / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    index_of = {case_id: i for i, case_id in enumerate(data.case_ids)}
    entries, inside = [], {o: [] for o in OUTCOMES}
    for fold in sorted({int(r["fold"]) for r in rows}):
        model, meta = checkpoint.load_model(run_dir / "checkpoints" / f"fold_{fold:02d}.npz")
        layer = LAYER[meta["architecture"]]
        mean = np.asarray(meta["normalisation"]["mean"], np.float32)[None, :, None, None]
        std = np.asarray(meta["normalisation"]["std"], np.float32)[None, :, None, None]
        held = [r for r in rows if int(r["fold"]) == fold]
        idx = np.array([index_of[r["case_id"]] for r in held])
        x = ((data.X[idx] - mean) / std).astype(np.float32)
        preds = np.array([int(r["pred"]) for r in held])
        maps = np.concatenate([grad_cam(model, x[s:s + 32], preds[s:s + 32], layer) for s in range(0, len(x), 32)])
        for r, heat, image in zip(held, maps, data.X[idx, 0]):
            kind = outcome(int(r["label"]), int(r["pred"]))
            mask = roi_mask(cases_by_id[r["case_id"]], image.shape[0], meta.get("preprocess", {}).get("margin", 20))
            share = None if mask is None or not mask.any() else fraction_inside(heat, mask)
            if share is not None:
                inside[kind].append(share)
            entries.append({"case_id": r["case_id"], "outcome": kind, "prob": float(r["prob_malignant"]),
                            "image": image, "heat": heat, "mask": mask, "inside": share})
    chosen = []
    for kind in OUTCOMES:
        group = sorted((e for e in entries if e["outcome"] == kind), key=lambda e: -abs(e["prob"] - 0.5))
        chosen += group[:per_outcome]
    return chosen, inside


def plot(chosen, path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def summarize(inside: dict) -> dict:
    """{outcome: {"cases": n, "mean": mean share inside the lesion or None}} for metrics.json."""
    return {k: {"cases": len(v), "mean": float(np.mean(v)) if v else None} for k, v in inside.items()}


def markdown(summary: dict) -> list[str]:
    """The report's gallery section from ``summarize``'s output."""
    lines = ["### Where the network looked (Grad-CAM at the last convolutional stage)", "",
             "True/false positives and negatives, the most confident of each first, with the heat map of the "
             "predicted class over the preprocessed ROI (white outline: the true lesion, where known).", "",
             "![Grad-CAM gallery](gallery.png)", ""]
    if any(v["cases"] for v in summary.values()):
        lines += ["Share of the heat map inside the true lesion mask, over every held-out case with a mask:", "",
                  "| outcome | cases | mean share inside the lesion |", "|---|---|---|"]
        lines += [f"| {k} | {v['cases']} | {100 * v['mean']:.1f}% |" for k, v in summary.items() if v["cases"]]
        lines.append("")
    return lines
