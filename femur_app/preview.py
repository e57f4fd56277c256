"""``python -m femur_app.preview``: figures to look at the data before training (``femur_app.reporting.data_figures``).

    python -m femur_app.preview [--data DIR | synthetic] [--out preview] [--n 24] [--seed 0]
                                [--max-pixels N] [--allow-outside]

Writes ``examples.png``, ``preprocessing.png`` and ``augmentation.png`` to ``--out``. The figures show four cases
per class, so ``--n`` is at most ``MAX_PREVIEW`` synthetic cases (and their memory must fit the budget,
``femur_app.memory``).
"""
from __future__ import annotations

import sys
from pathlib import Path

from femur_app import cli, memory
from femur_app.data import SyntheticSet, folder_memory, load_folder
from femur_app.data.source import MAX_SEED
from femur_app.errors import ConfigError, UserError
from femur_app.predict import add_max_pixels
from femur_app.reporting.data_figures import write_previews

MAX_PREVIEW = 1000


def parser() -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog="python -m femur_app.preview", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="synthetic", help="a data folder, or 'synthetic' (default)")
    p.add_argument("--out", type=Path, default=Path("preview"), help="output folder (default: preview)")
    p.add_argument("--n", type=int, default=24, help="synthetic cases to draw (default 24)")
    p.add_argument("--seed", type=int, default=0)
    add_max_pixels(p)
    p.add_argument("--allow-outside", action="store_true",
                   help="let labels.csv name files outside the --data folder (absolute paths, ..)")
    return p


def execute(args) -> int:
    if not 0 <= args.seed <= MAX_SEED:
        raise ConfigError(f"--seed {args.seed}: out of range (expected 0 to {MAX_SEED}, NumPy's seed range)")
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out}: is a file (expected a folder for the figures)")
    if args.data == "synthetic":
        n_malignant = round(args.n * 165 / 500)
        if not 0 < n_malignant < args.n:
            raise UserError(f"--n {args.n}: too few cases for both classes (expected at least 2)")
        if args.n > MAX_PREVIEW:
            raise ConfigError(f"--n {args.n}: more cases than a preview shows (expected at most {MAX_PREVIEW})")
        spec = SyntheticSet(args.n, n_malignant, args.seed)
        memory.check(spec.memory_bytes(), f"--n {args.n}")
        cases = spec.cached_cases()
    else:
        folder_memory.check_cap(args.max_pixels, "--max-pixels")
        folder_memory.check(args.data, 0, args.max_pixels, args.allow_outside)
        cases = load_folder(args.data, allow_outside=args.allow_outside, max_pixels=args.max_pixels)
    written = write_previews(cases, args.out, seed=args.seed)
    print(f"wrote {', '.join(p.name for p in written)} to {args.out}")
    return 0


def main(argv=None) -> int:
    return cli.run(parser(), execute, argv)


if __name__ == "__main__":
    sys.exit(main())
