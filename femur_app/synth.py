"""Write the synthetic set to disk in the folder layout users use for their own data.

    python -m femur_app.synth --out DIR [--n 500] [--n-malignant 165] [--seed 0] [--force]

DIR receives ``labels.csv`` (path,label,patient_id,x0,y0,x1,y1,mask_path), ``images/case_NNNN.png``
(16-bit grey PNG, the raw phantom intensities) and ``masks/case_NNNN.png`` (8-bit, 255 = lesion), so that
``load_dataset(DIR)`` reads back exactly the generated pixels, labels, boxes and masks, and users see the
expected format by example. Case ids read back as ``images/case_NNNN`` (the path without suffix).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from femur_app.data import LABEL_NAMES, generate

COLUMNS = ("path", "label", "patient_id", "x0", "y0", "x1", "y1", "mask_path")


def write_folder(cases, out) -> Path:
    """Write ``cases`` (uint16 images, boxes, masks) to ``out``; returns the path of ``labels.csv``."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    rows = []
    for case in cases:
        if case.image.dtype != np.uint16:
            raise ValueError(f"write_folder: {case.case_id} has {case.image.dtype} pixels; expected uint16")
        image_path, mask_path = f"images/{case.case_id}.png", ""
        iio.imwrite(out / image_path, case.image)
        if case.mask is not None:
            mask_path = f"masks/{case.case_id}.png"
            iio.imwrite(out / mask_path, case.mask.astype(np.uint8) * 255)
        box = case.box if case.box is not None else ("", "", "", "")
        rows.append((image_path, LABEL_NAMES[case.label], case.patient_id, *box, mask_path))
    table = out / "labels.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m femur_app.synth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write (created if needed)")
    parser.add_argument("--n", type=int, default=500, help="number of cases (default 500, as the paper)")
    parser.add_argument("--n-malignant", type=int, default=None,
                        help="malignant cases (default: 33%% of n, the paper's 165/500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="overwrite an existing labels.csv")
    args = parser.parse_args(argv)
    if (args.out / "labels.csv").exists() and not args.force:
        parser.error(f"{args.out / 'labels.csv'} exists; use --force to overwrite")
    n_malignant = args.n_malignant if args.n_malignant is not None else round(args.n * 165 / 500)
    cases = generate(args.n, n_malignant, args.seed, n_jobs=-1)
    table = write_folder(cases, args.out)
    print(f"wrote {len(cases)} cases ({n_malignant} malignant) to {table.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
