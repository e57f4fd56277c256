"""The run's figures, drawn with matplotlib's file-only Agg backend (no display needed).

``roc.png``: the pooled out-of-fold ROC curve and each fold's, with the paper's reported operating point;
``confusion_matrix.png``: the pooled confusion matrix at the run's threshold;
``learning_curves.png``: per-epoch training and held-out loss and accuracy of every fold;
``reliability.png``: the reliability diagram; ``gallery.png``: Grad-CAM over the drawn cases of each outcome;
``failures.png`` (``plot_cases``), ``roc_test.png`` and the heat maps of ``python -m femur_app.explain``.
Each function takes arrays or the evaluation's values and a path, and writes the figure through ``save_figure``,
the one way every figure of the project reaches the disk (atomically).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

from femur_app.evaluation.calibration import Reliability  # noqa: E402
from femur_app.evaluation.gallery import GalleryCase  # noqa: E402
from femur_app.evaluation.metrics import Confusion, auc, roc  # noqa: E402
from femur_app.evaluation.run import Epoch  # noqa: E402
from minicnn.serialize import write_atomic  # noqa: E402


def save_figure(fig, path, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` (its suffix names the format) atomically, creating the folder, and close it."""
    path = Path(path)
    with write_atomic(path) as f:
        fig.savefig(f, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_roc(labels, probabilities, folds, path, paper_point: tuple[float, float] | None = None) -> Path:
    """Pooled ROC (thick) and per-fold ROCs (thin); ``paper_point`` = (FPR, TPR) of the paper's table."""
    labels, probabilities, folds = np.asarray(labels), np.asarray(probabilities), np.asarray(folds)
    fig, ax = plt.subplots(figsize=(5.2, 5))
    for fold in np.unique(folds):
        held = folds == fold
        if len(np.unique(labels[held])) == 2:
            fpr, tpr, _ = roc(labels[held], probabilities[held])
            ax.plot(fpr, tpr, color="0.7", lw=0.8)
    fpr, tpr, _ = roc(labels, probabilities)
    ax.plot(fpr, tpr, color="C0", lw=2.2, label=f"pooled out-of-fold (AUC {auc(labels, probabilities):.3f})")
    ax.plot([], [], color="0.7", lw=0.8, label="single folds")
    if paper_point is not None:
        ax.plot(*paper_point, "r*", ms=11, label="paper's reported sens./spec.")
    ax.plot([0, 1], [0, 1], ls=":", color="0.5", lw=1)
    ax.set(xlabel="1 - specificity (false positive rate)", ylabel="sensitivity (true positive rate)",
           xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), title="ROC, malignant = positive")
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def plot_confusion(confusion: Confusion, threshold: float, path) -> Path:
    """2x2 matrix, rows = true class, columns = predicted class, counts and row percentages."""
    matrix = np.array([[confusion.tn, confusion.fp], [confusion.fn, confusion.tp]])
    fig, ax = plt.subplots(figsize=(4.4, 4))
    ax.imshow(matrix, cmap="Blues")
    rows = matrix.sum(axis=1, keepdims=True)
    for (i, j), count in np.ndenumerate(matrix):
        share = f"\n{100 * count / rows[i, 0]:.1f}% of row" if rows[i, 0] else ""
        ax.text(j, i, f"{count}{share}", ha="center", va="center",
                color="white" if count > matrix.max() / 2 else "black")
    names = ["benign", "malignant"]
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=names, yticklabels=names, xlabel="predicted",
           ylabel="true", title=f"Pooled out-of-fold, threshold {threshold:g}")
    return save_figure(fig, path)


def plot_learning_curves(histories: dict[int, list[Epoch]], path) -> Path:
    """``histories``: fold -> its epochs (train_loss, train_acc, heldout_loss, heldout_acc of each)."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for index, (fold, history) in enumerate(sorted(histories.items())):
        epochs = [h.epoch for h in history]
        colour = f"C{index % 10}"
        for ax, train, heldout in ((ax_loss, "train_loss", "heldout_loss"), (ax_acc, "train_acc", "heldout_acc")):
            ax.plot(epochs, [getattr(h, train) for h in history], color=colour, lw=1, label=f"fold {fold}")
            ax.plot(epochs, [getattr(h, heldout) for h in history], color=colour, lw=1, ls="--")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy",
               title="Loss: training (solid), held-out fold (dashed, monitoring only)")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy: training (solid), held-out (dashed)")
    ax_acc.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)


def plot_explanation(image, heat, sal, path, title: str) -> Path:
    """Three panels: the preprocessed ROI, Grad-CAM over it, and the input-gradient saliency."""
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title("preprocessed ROI")
    axes[1].imshow(image, cmap="gray")
    axes[1].imshow(heat, cmap="jet", alpha=0.45, vmin=0, vmax=1)
    axes[1].set_title("Grad-CAM")
    axes[2].imshow(sal, cmap="magma")
    axes[2].set_title("saliency |d logit / d x|")
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def plot_roc_cv_test(cv_labels, cv_probs, test_labels, test_probs, path, test_name: str = "test set") -> Path:
    """The pooled out-of-fold ROC and the independent test set's ROC on one pair of axes."""
    fig, ax = plt.subplots(figsize=(5.2, 5))
    for labels, probs, name, colour in ((cv_labels, cv_probs, "cross-validation, pooled out-of-fold", "C0"),
                                        (test_labels, test_probs, test_name, "C3")):
        fpr, tpr, _ = roc(labels, probs)
        ax.plot(fpr, tpr, color=colour, lw=2, label=f"{name} (AUC {auc(labels, probs):.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="0.5", lw=1)
    ax.set(xlabel="1 - specificity (false positive rate)", ylabel="sensitivity (true positive rate)",
           xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), title="ROC: cross-validation and test set")
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def plot_cases(images, masks, titles, path) -> Path:
    """A row of preprocessed ROIs with the true lesion outlined (white) where known."""
    cols = max(1, len(images))
    fig, axes = plt.subplots(1, cols, figsize=(2.3 * cols, 2.6), squeeze=False)
    for ax, image, mask, title in zip(axes[0], images, masks, titles):
        ax.imshow(image, cmap="gray")
        if mask is not None and mask.any():
            ax.contour(mask, levels=[0.5], colors="white", linewidths=0.8)
        ax.set_title(title, fontsize=7)
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def plot_reliability(rel: Reliability, path, title: str = "Reliability diagram") -> Path:
    """The reliability diagram (observed vs predicted, with the diagonal) above the cases per bin."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.5, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    filled = rel.counts > 0
    top.plot(rel.mean_predicted[filled], rel.observed_fraction[filled], "o-", label=f"model (ECE {rel.ece:.3f})")
    top.set_ylabel("observed malignant fraction")
    top.set_title(title)
    top.legend(loc="upper left")
    centres = (rel.bin_edges[:-1] + rel.bin_edges[1:]) / 2
    bottom.bar(centres, rel.counts, width=np.diff(rel.bin_edges) * 0.9, color="tab:blue", alpha=0.6)
    bottom.set_xlabel("predicted P(malignant)")
    bottom.set_ylabel("cases")
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def plot_gallery(chosen: list[GalleryCase], path) -> Path:
    """One panel per drawn case: the preprocessed ROI, its Grad-CAM heat map and the true lesion's outline."""
    cols = max(1, len(chosen))
    fig, axes = plt.subplots(1, cols, figsize=(2.3 * cols, 2.6), squeeze=False)
    for ax, e in zip(axes[0], chosen):
        ax.imshow(e.image, cmap="gray")
        ax.imshow(e.heat, cmap="jet", alpha=0.4, vmin=0, vmax=1)
        if e.mask is not None:
            ax.contour(e.mask, levels=[0.5], colors="white", linewidths=0.8)
        share = "" if e.inside is None else f", {100 * e.inside:.0f}% in lesion"
        ax.set_title(f"{e.outcome} p={e.prob:.2f}{share}", fontsize=7)
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
