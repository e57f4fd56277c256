"""``python -m femur_app.predict --model CHECKPOINT IMAGE_OR_DICOM...``: P(malignant) for new images.

Each image goes through the preprocessing the model was trained with (``femur_app.preprocess``: the lesion
box, or the whole image when no ``--roi`` is given, then Otsu mask, morphology and resize to the checkpoint's
input size), is standardised with the training fold's statistics stored in the checkpoint, and is classified in
evaluation mode. One JSON line per image goes to stdout::

    {"path": "...", "prob_malignant": 0.83, "label": "malignant", "threshold": 0.5}

An unreadable or invalid input gets one line on stderr (``error: PATH: problem``, no traceback); the other
images are still predicted, and the exit status is 1 if any input failed (2 for a bad checkpoint or option).
The checkpoint is a pickle-free ``.npz``: loading it never runs code from the file.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from femur_app.models import checkpoint
from femur_app.data.loaders import DataError, read_image
from femur_app.data.preprocess import preprocess
from minicnn.losses import softmax


def parse_roi(text: str):
    """'x0,y0,x1,y1' -> four ints (x1, y1 exclusive)."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"--roi must be four integers x0,y0,x1,y1, got {text!r}")
    return values


def prepare(path, metadata: dict, roi=None) -> np.ndarray:
    """Read and preprocess one image file into a standardised (1, C, S, S) float32 batch."""
    pixels, _ = read_image(path)
    try:
        roi_image = preprocess(pixels, box=roi, size=metadata["input_size"], **metadata.get("preprocess", {})).image
    except ValueError as error:
        raise DataError(f"{path}: {error}") from error
    mean = np.asarray(metadata["normalisation"]["mean"], np.float32)
    std = np.asarray(metadata["normalisation"]["std"], np.float32)
    return ((roi_image[None, None] - mean[None, :, None, None]) / std[None, :, None, None]).astype(np.float32)


def predict_files(model, metadata: dict, paths, roi=None, out=None, err=None) -> int:
    """Print one JSON line per readable image and one error line per bad one; return the number of failures."""
    out, err = out or sys.stdout, err or sys.stderr
    threshold = float(metadata["threshold"])
    names = metadata["class_names"]
    failures = 0
    for path in paths:
        try:
            x = prepare(path, metadata, roi)
        except DataError as error:
            print(f"error: {error}", file=err)
            failures += 1
            continue
        prob = float(softmax(model.forward(x, train=False))[0, 1])
        record = {"path": str(path), "prob_malignant": round(prob, 6),
                  "label": names[1] if prob >= threshold else names[0], "threshold": threshold}
        print(json.dumps(record), file=out, flush=True)
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m femur_app.predict", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a model checkpoint (.npz) written by femur_app.train")
    parser.add_argument("--roi", type=parse_roi, help="lesion box x0,y0,x1,y1 in pixels, for every image")
    parser.add_argument("images", nargs="+", help="PNG/JPEG/TIFF or DICOM files")
    args = parser.parse_args(argv)
    try:
        model, metadata = checkpoint.load_model(args.model)
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 1 if predict_files(model, metadata, args.images, args.roi) else 0


if __name__ == "__main__":
    sys.exit(main())
