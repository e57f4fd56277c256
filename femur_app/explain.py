"""``python -m femur_app.explain --model CHECKPOINT IMAGE...``: where the network looked, as Grad-CAM heat maps.

For every image it runs the prediction pipeline (``femur_app.evaluation.inference``), computes Grad-CAM at the
layer the model names (``--layer`` overrides it) for the predicted class (or ``--target``), and writes
``<out>/<image path>.gradcam.png``: the preprocessed ROI, the heat map over it, and the input-gradient saliency.
``<image path>`` is the image's path below the images' common folder (``a/x.png`` and ``b/x.png`` give
``<out>/a/x.png.gradcam.png`` and ``<out>/b/x.png.gradcam.png``), so no output overwrites another. An image that
cannot be read is one line on stderr, and the exit status is then 1; a bad checkpoint, option or ``--out`` is one
line and exit status 2.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from femur_app import cli
from femur_app.data import folder_memory
from femur_app.data.dataset import LABEL_NAMES
from femur_app.errors import ConfigError, DataError
from femur_app.evaluation.inference import explain, prepare_image
from femur_app.models import checkpoint
from femur_app.predict import add_max_pixels, checked_probability, exit_status, parse_roi
from femur_app.reporting.plots import plot_explanation


def parser() -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog="python -m femur_app.explain", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a model checkpoint (.npz) written by femur_app.train")
    p.add_argument("--layer", help="the top-level layer whose output Grad-CAM weighs (default: the model's own)")
    p.add_argument("--target", choices=["benign", "malignant"], help="class to explain (default: the predicted one)")
    p.add_argument("--roi", type=parse_roi, help="lesion box x0,y0,x1,y1 in pixels, for every image")
    p.add_argument("--out", default="explanations", help="folder for the PNGs (default ./explanations)")
    add_max_pixels(p)
    p.add_argument("images", nargs="+")
    return p


def output_names(images) -> dict[str, Path]:
    """Each image's output name: its path below the images' common folder, plus ``.gradcam.png``."""
    resolved = {image: Path(os.path.abspath(image)) for image in images}  # distinct paths stay distinct
    root = Path(os.path.commonpath([path.parent for path in resolved.values()]))
    return {image: Path(f"{path.relative_to(root)}.gradcam.png") for image, path in resolved.items()}


def execute(args) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file (expected a folder for the heat maps)")
    folder_memory.check_cap(args.max_pixels, "--max-pixels")
    model = checkpoint.load(args.model)
    layer = args.layer or model.model.gradcam_layer
    named = [child.name for child in model.model.layers if child.name]
    if layer not in named:
        raise ConfigError(f"--layer {layer}: no such top-level layer in {model.architecture} "
                          f"(expected one of {named})")
    target = None if args.target is None else list(LABEL_NAMES.values()).index(args.target)
    failures = 0
    names = output_names(args.images)
    for image_path in args.images:
        try:
            x = prepare_image(image_path, model, args.roi, args.max_pixels)
        except DataError as error:
            print(f"error: {cli.one_line(error)}", file=sys.stderr)
            failures += 1
            continue
        prob, cls, heat, sal = explain(model, x, layer, target)
        checked_probability(prob, args.model, image_path)
        name = Path(image_path).name
        print(plot_explanation(model.normalisation.invert(x[0])[0], heat, sal, out / names[image_path],
                               f"{name}: P(malignant) = {prob:.3f}, explaining '{LABEL_NAMES[cls]}' at {layer}"))
    return exit_status(failures, len(args.images))


def main(argv=None) -> int:
    return cli.run(parser(), execute, argv)


if __name__ == "__main__":
    sys.exit(main())
