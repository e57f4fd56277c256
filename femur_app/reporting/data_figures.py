"""Figures to look at the data before training, in the spirit of the paper's Figs. 2 and 3.

``examples.png``: benign and malignant examples, the slice with the lesion box and the box region;
``preprocessing.png``: every preprocessing stage of a few cases (crop ... final size x size ROI);
``augmentation.png``: one preprocessed ROI and random augmentations of it (default ``AugmentConfig``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot figure state: these figures are built and saved
from matplotlib.patches import Rectangle

from femur_app.data import LABEL_NAMES
from femur_app.data.augment import AugmentConfig, augment, draw_transform
from femur_app.data.preprocess import crop_with_margin, preprocess
from femur_app.reporting.plots import save_figure


def display_window(image: np.ndarray) -> np.ndarray:
    """Window an MR image for display: 0.5th to 99.5th percentile."""
    image = np.asarray(image, dtype=np.float32)
    lo, hi = np.percentile(image, [0.5, 99.5])
    return np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1)


def pick(cases, label: int, k: int):
    return [case for case in cases if case.label == label][:k]


def plot_examples(cases, path: Path, per_class: int = 4) -> None:
    """Rows: benign slices, their box regions, malignant slices, their box regions."""
    fig = Figure(figsize=(3.2 * per_class, 9))
    axes = fig.subplots(4, per_class, squeeze=False)
    for block, label in enumerate((0, 1)):
        chosen = pick(cases, label, per_class)
        for col in range(per_class):
            top, bottom = axes[2 * block, col], axes[2 * block + 1, col]
            top.axis("off"), bottom.axis("off")
            if col >= len(chosen):
                continue
            case = chosen[col]
            top.imshow(display_window(case.image), cmap="gray")
            top.set_title(f"{LABEL_NAMES[label]}: {case.case_id}", fontsize=9)
            if case.box is not None:
                x0, y0, x1, y1 = case.box
                top.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, color="red", lw=1))
            crop, _ = crop_with_margin(case.image, case.box, 20)
            bottom.imshow(display_window(crop), cmap="gray")
    fig.suptitle("Benign (rows 1-2) and malignant (rows 3-4) cases: slice with lesion box, box + 20-px margin")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_preprocessing(cases, path: Path, size: int = 224) -> None:
    """One row per case, one column per preprocessing stage."""
    results = [preprocess(case.image, case.box, size=size) for case in cases]
    names = list(results[0].stages) + [f"resized {size}x{size}"]
    fig = Figure(figsize=(1.9 * len(names), 2.1 * len(cases)))
    axes = fig.subplots(len(cases), len(names), squeeze=False)
    for row, (case, result) in enumerate(zip(cases, results)):
        for col, image in enumerate(list(result.stages.values()) + [result.image]):
            ax = axes[row, col]
            ax.imshow(image if image.dtype == bool or col > 0 else display_window(image), cmap="gray")
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(names[col], fontsize=9)
        axes[row, 0].set_ylabel(f"{case.case_id}\n{LABEL_NAMES[case.label]}", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_augmentation(case, path: Path, seed: int = 0, k: int = 7) -> None:
    """The preprocessed ROI of ``case`` and ``k`` random augmentations, each titled with its transform."""
    roi = preprocess(case.image, case.box).image
    cfg = AugmentConfig()
    fig = Figure(figsize=(2.6 * ((k + 2) // 2), 5.6))
    axes = fig.subplots(2, (k + 2) // 2, squeeze=False)
    axes = axes.ravel()
    axes[0].imshow(roi, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("preprocessed ROI", fontsize=9)
    for i in range(k):
        t = draw_transform(np.random.default_rng([seed, i]), cfg, roi.shape)
        augmented = augment(roi, np.random.default_rng([seed, i]), cfg)  # same draws as t
        axes[i + 1].imshow(augmented, cmap="gray", vmin=0, vmax=1)
        flips = "".join(name for name, on in (("H", t.hflip), ("V", t.vflip)) if on) or "-"
        axes[i + 1].set_title(f"rot {t.angle_deg:+.0f}°, x{t.scale:.2f}\nshift {t.shift[0]:+.0f},{t.shift[1]:+.0f} "
                              f"flip {flips}", fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(f"Augmentation of {case.case_id} ({LABEL_NAMES[case.label]}), default AugmentConfig")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def write_previews(cases, out: Path, seed: int = 0) -> list[Path]:
    """examples.png, preprocessing.png (two benign and two malignant cases) and augmentation.png in ``out``."""
    out = Path(out)
    plot_examples(cases, out / "examples.png")
    stage_cases = pick(cases, 0, 2) + pick(cases, 1, 2)
    plot_preprocessing(stage_cases, out / "preprocessing.png")
    plot_augmentation(stage_cases[-1], out / "augmentation.png", seed=seed)
    return [out / "examples.png", out / "preprocessing.png", out / "augmentation.png"]
