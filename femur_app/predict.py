"""``python -m femur_app.predict --model CHECKPOINT IMAGE_OR_DICOM...``: P(malignant) for new images.

Each image is prepared as the model's training data were (``femur_app.evaluation.inference``) and classified;
one JSON line per image goes to stdout::

    {"path": "...", "prob_malignant": 0.83, "label": "malignant", "threshold": 0.5}

An unreadable or invalid input gets one line on stderr (``error: PATH: problem``, no traceback); the other
images are still predicted, and the exit status is 1 if any input failed (2 for a bad checkpoint or option).
The checkpoint is a pickle-free ``.npz``: loading it never runs code from the file.
"""
from __future__ import annotations

import argparse
import json
import sys

from femur_app import cli
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
    p.add_argument("images", nargs="+", help="PNG/JPEG/TIFF or DICOM files")
    return p


def execute(args) -> int:
    model, metadata = checkpoint.load_model(args.model)
    failures = 0
    for path in args.images:
        try:
            record = predict_one(model, metadata, prepare_image(path, metadata, args.roi))
        except DataError as error:
            print(f"error: {cli.one_line(error)}", file=sys.stderr)
            failures += 1
            continue
        print(json.dumps({"path": str(path), **record}), flush=True)
    return 1 if failures else 0


def main(argv=None) -> int:
    return cli.run(parser(), execute, argv)


if __name__ == "__main__":
    sys.exit(main())
