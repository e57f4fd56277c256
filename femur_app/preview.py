"""``python -m femur_app.preview``: figures to look at the data before training (``femur_app.reporting.data_figures``).

    python -m femur_app.preview [--data DIR | synthetic] [--out preview] [--n 24] [--seed 0]
                                [--max-pixels N] [--allow-outside]

Writes ``examples.png``, ``preprocessing.png`` and ``augmentation.png`` to ``--out``.
"""
from __future__ import annotations

import sys
from pathlib import Path

from femur_app import cli
from femur_app.data import SyntheticSet, load_folder
from femur_app.errors import UserError
from femur_app.reporting.data_figures import write_previews


def parser() -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog="python -m femur_app.preview", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="synthetic", help="a data folder, or 'synthetic' (default)")
    p.add_argument("--out", type=Path, default=Path("preview"), help="output folder (default: preview)")
    p.add_argument("--n", type=int, default=24, help="synthetic cases to draw (default 24)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-pixels", type=int, help="refuse images of more pixels before decoding them "
                                                  "(default 5120 x 5120; femur_app.data.limits)")
    p.add_argument("--allow-outside", action="store_true",
                   help="let labels.csv name files outside the --data folder (absolute paths, ..)")
    return p


def execute(args) -> int:
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out}: is a file (expected a folder for the figures)")
    if args.data == "synthetic":
        n_malignant = round(args.n * 165 / 500)
        if not 0 < n_malignant < args.n:
            raise UserError(f"--n {args.n}: too few cases for both classes (expected at least 2)")
        cases = SyntheticSet(args.n, n_malignant, args.seed).cached_cases()
    else:
        cases = load_folder(args.data, allow_outside=args.allow_outside, max_pixels=args.max_pixels)
    written = write_previews(cases, args.out, seed=args.seed)
    print(f"wrote {', '.join(p.name for p in written)} to {args.out}")
    return 0


def main(argv=None) -> int:
    return cli.run(parser(), execute, argv)


if __name__ == "__main__":
    sys.exit(main())
