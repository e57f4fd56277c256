"""``python -m femur_app.predict --model CHECKPOINT IMAGE_OR_DICOM...``: P(malignant) for new images.

Each image is prepared as the model's training data were (``femur_app.evaluation.inference``) and classified;
one JSON line per image goes to stdout::

    {"path": "...", "prob_malignant": 0.83, "label": "malignant", "threshold": 0.5}

An unreadable or invalid input (more pixels than ``--max-pixels``, non-finite or constant pixels, ...) gets one
line on stderr (``error: PATH: problem``, no traceback); the other images are still predicted, and the exit
status is 1 if some input failed, 2 if every one did (nothing was predicted). A bad checkpoint or option is one line and exit status 2: the checkpoint is a
pickle-free ``.npz`` (loading it never runs code from the file) whose metadata are checked against sane bounds
before a network is built, and whose weights must be finite (``femur_app.models.checkpoint.load``). A
probability is always a finite number in [0, 1] and every line valid JSON; a model that computes anything else
is refused, naming the checkpoint.
"""
from __future__ import annotations

import argparse
import json
import math
import sys

from femur_app import cli
from femur_app.data import folder_memory
from femur_app.data.source import MAX_MAX_PIXELS
from femur_app.errors import DataError
from femur_app.evaluation.inference import predict_one, prepare_image
from femur_app.models import checkpoint


def parse_roi(text: str):
    """'x0,y0,x1,y1' -> four ints (x1, y1 exclusive)."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"--roi must be four integers x0,y0,x1,y1, got {text!r}")
    return values


def parser() -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog="python -m femur_app.predict", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a model checkpoint (.npz) written by femur_app.train")
    p.add_argument("--roi", type=parse_roi, help="lesion box x0,y0,x1,y1 in pixels, for every image")
    add_max_pixels(p)
    p.add_argument("images", nargs="+", help="PNG/JPEG/TIFF or DICOM files")
    return p


def pixel_count(text: str) -> int:
    """``--max-pixels``: a whole number of pixels from 1 to ``MAX_MAX_PIXELS``."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_MAX_PIXELS:
        raise argparse.ArgumentTypeError(f"--max-pixels {text}: expected a pixel count from 1 to {MAX_MAX_PIXELS:,}")
    return value


def add_max_pixels(p) -> None:
    p.add_argument("--max-pixels", type=pixel_count, help="refuse images of more pixels before decoding them "
                                                          "(default 5120 x 5120; femur_app.data.limits)")


def checked_probability(prob: float, model_path, image_path) -> float:
    """``prob`` if it is a probability; DataError naming the checkpoint otherwise (it is the model's fault)."""
    if not (math.isfinite(prob) and 0.0 <= prob <= 1.0):
        raise DataError(f"{model_path}: computes P(malignant) = {prob} for {image_path} (expected a finite "
                        "probability; the checkpoint's weights or statistics are broken)")
    return prob


def execute(args) -> int:
    folder_memory.check_cap(args.max_pixels, "--max-pixels")
    model = checkpoint.load(args.model)
    failures = 0
    for path in args.images:
        try:
            record = predict_one(model, prepare_image(path, model, args.roi, args.max_pixels))
        except DataError as error:
            print(f"error: {cli.one_line(error)}", file=sys.stderr)
            failures += 1
            continue
        checked_probability(record["prob_malignant"], args.model, path)
        print(json.dumps({"path": str(path), **record}, allow_nan=False), flush=True)
    return exit_status(failures, len(args.images))


def exit_status(failures: int, total: int) -> int:
    """0 when every image was read, 1 when some were not (the others have their answers), 2 - a user's error, like
    every other - when none was: nothing was predicted."""
    if failures == total:
        return cli.USAGE_ERROR
    return 1 if failures else 0


def main(argv=None) -> int:
    return cli.run(parser(), execute, argv)


if __name__ == "__main__":
    sys.exit(main())
