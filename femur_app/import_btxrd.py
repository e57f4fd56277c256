"""Import the BTXRD bone-tumour radiographs into the project's folder format (see docs/real_data.md).

    python -m femur_app.import_btxrd --src PATH/TO/BTXRD --out DIR [--site femur|all|<column>]
                                     [--centers 1,2,3] [--views frontal,lateral,oblique] [--jobs N] [--force]
                                     [--grouping standin|coarse] [--giant-cell keep|exclude|malignant]

DIR receives labels.csv, images/, masks/ and import_summary.json/.md (``femur_app.data.btxrd``): the tumour
images (benign versus malignant) of the chosen site, centres and views, grouped into stand-in patients (and, as a
sensitivity analysis, into coarse groups: both are written, ``--grouping`` picks the one in ``patient_id``), with
giant-cell tumours (WHO intermediate) kept as benign, excluded or relabelled malignant (``--giant-cell``). Train on
it with ``python -m femur_app.train --data DIR``. A problem with the input prints one line
``error: <culprit>: <what is wrong> (<what was expected>)`` and exits with status 2; ``--debug`` shows the
traceback instead.
"""
from __future__ import annotations

import argparse
import sys

from femur_app import cli
from femur_app.data.btxrd import GIANT_CELL_CHOICES, GIANT_CELL_WHO, GROUPINGS, VIEW_COLUMNS, import_btxrd
from femur_app.errors import UserError


def number_list(text: str) -> list[int]:
    try:
        return sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} (expected centre numbers separated by commas, e.g. 1,2,3)")


def name_list(text: str) -> list[str]:
    return [part.strip().lower() for part in text.split(",") if part.strip()]


def job_count(text: str) -> int:
    """``--jobs``: -1 (every core) or 1 to 256 processes (joblib's 0 is no count at all)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not (value == -1 or 1 <= value <= 256):
        raise argparse.ArgumentTypeError(f"--jobs {text}: expected -1 (every core) or 1 to 256")
    return value


def parser() -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog="python -m femur_app.import_btxrd", description=__doc__.split("\n\n")[0])
    p.add_argument("--src", required=True, help="the unpacked BTXRD folder (holding dataset.xlsx), or its parent")
    p.add_argument("--out", required=True, help="a new or empty folder outside --src (created if needed)")
    p.add_argument("--site", default="femur",
                   help="femur (default), all, or another site column such as tibia, humerus, 'hip bone'")
    p.add_argument("--centers", type=number_list, default=None, help="centres to keep, e.g. 1 or 2,3 (default all)")
    p.add_argument("--views", type=name_list, default=None,
                   help=f"views to keep, some of {','.join(VIEW_COLUMNS)} (default all)")
    p.add_argument("--jobs", type=job_count, default=-1, help="parallel image conversions (default -1: every core)")
    p.add_argument("--force", action="store_true",
                   help="write into a folder that holds files, replacing those of the same names")
    p.add_argument("--grouping", choices=GROUPINGS, default="standin",
                   help="the grouping written as patient_id: standin (default; consecutive ids with the same "
                        "centre, age, gender, sites and diagnosis, plus image duplicates) or coarse (every image of "
                        "one centre, age, gender and diagnosis, plus duplicates); both are written as columns")
    p.add_argument("--giant-cell", choices=GIANT_CELL_CHOICES, default="keep",
                   help=f"giant-cell tumours, WHO {GIANT_CELL_WHO} but labelled benign by BTXRD: keep them as "
                        "benign (default), exclude them, or relabel them malignant")
    return p


def execute(args) -> int:
    try:
        summary = import_btxrd(args.src, args.out, site=args.site, centers=args.centers, views=args.views,
                               force=args.force, n_jobs=args.jobs, grouping=args.grouping,
                               giant_cell=args.giant_cell)
    except OSError as error:
        if not error.filename:
            raise
        raise UserError(f"{error.filename}: {error.strerror} (expected a readable source and a writable output "
                        "folder)") from error
    counts, patients = summary["by_class"], summary["patients"]
    print(f"wrote {summary['images']} {summary['modality']} images ({counts.get('benign', 0)} benign, "
          f"{counts.get('malignant', 0)} malignant) as {patients['count']} stand-in patients to {args.out}")
    for reason, entry in summary["excluded"].items():
        print(f"  excluded {entry['count']}: {reason}")
    print(f"  patients: {patients['rule']}")
    coarse, giant = summary["grouping"]["coarse"], summary["giant_cell_tumour"]
    print(f"  coarse grouping (sensitivity analysis): {coarse['count']} groups; patient_id holds the "
          f"{args.grouping} grouping")
    print(f"  giant-cell tumours (WHO {giant['who_class']}): {giant['images']} image(s), {giant['choice']}")
    large = summary["over_loader_pixel_limit"]
    if large["image_ids"]:
        print(f"  warning: {len(large['image_ids'])} image(s) above the loader's {large['max_pixels']:,}-pixel limit "
              "(femur_app.data.limits.MAX_PIXELS); see the summary")
    print(f"  summary: {args.out}/import_summary.md and import_summary.json")
    return 0


def main(argv=None) -> int:
    return cli.run(parser(), execute, argv)


if __name__ == "__main__":
    sys.exit(main())
