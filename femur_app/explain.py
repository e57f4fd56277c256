"""``python -m femur_app.explain --model CHECKPOINT IMAGE...``: where the network looked, as Grad-CAM heat maps.

For every image it runs the prediction pipeline of ``femur_app.predict``, computes Grad-CAM at ``--layer``
(conv5 by default) for the predicted class (or ``--target``), and writes ``<out>/<image name>.gradcam.png``:
the preprocessed ROI, the heat map over it, and the input-gradient saliency beside them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from femur_app.models import checkpoint
from femur_app.data.loaders import DataError
from femur_app.evaluation.gradcam import grad_cam, saliency
from femur_app.predict import parse_roi, prepare
from minicnn.losses import softmax


def save_overlay(path, image, heat, sal, title: str) -> Path:
    """Three panels: the input ROI, Grad-CAM over it, and saliency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def explain(model, metadata, x, layer: str, target: int | None = None):
    """(probability of malignancy, explained class, Grad-CAM map, saliency map) for one prepared (1, C, S, S) image."""
    prob = float(softmax(model.forward(x, train=False))[0, 1])
    cls = (1 if prob >= float(metadata["threshold"]) else 0) if target is None else target
    return prob, cls, grad_cam(model, x, cls, layer)[0], saliency(model, x, cls)[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m femur_app.explain", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a model checkpoint (.npz) written by femur_app.train")
    parser.add_argument("--layer", default="conv5", help="the convolution whose output Grad-CAM weighs (default conv5)")
    parser.add_argument("--target", choices=["benign", "malignant"], help="class to explain (default: the predicted one)")
    parser.add_argument("--roi", type=parse_roi, help="lesion box x0,y0,x1,y1 in pixels, for every image")
    parser.add_argument("--out", default="explanations", help="folder for the PNGs (default ./explanations)")
    parser.add_argument("images", nargs="+")
    args = parser.parse_args(argv)
    try:
        model, metadata = checkpoint.load_model(args.model)
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    names = metadata["class_names"]
    target = None if args.target is None else names.index(args.target)
    failures = 0
    for image_path in args.images:
        try:
            x = prepare(image_path, metadata, args.roi)
            prob, cls, heat, sal = explain(model, metadata, x, args.layer, target)
        except (DataError, KeyError) as error:
            print(f"error: {error}", file=sys.stderr)
            failures += 1
            continue
        roi = x[0, 0] * metadata["normalisation"]["std"][0] + metadata["normalisation"]["mean"][0]
        out = save_overlay(Path(args.out) / f"{Path(image_path).name}.gradcam.png", roi, heat, sal,
                           f"{Path(image_path).name}: P(malignant) = {prob:.3f}, explaining '{names[cls]}' at {args.layer}")
        print(out)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
