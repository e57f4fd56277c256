"""``python -m femur_app.preview``: figures to look at the data before training (``femur_app.reporting.data_figures``).

    python -m femur_app.preview [--data DIR | synthetic] [--out preview] [--n 24] [--seed 0]

Writes ``examples.png``, ``preprocessing.png`` and ``augmentation.png`` to ``--out``.
"""
from __future__ import annotations

import sys
from pathlib import Path

from femur_app import cli
from femur_app.data import load_dataset
from femur_app.reporting.data_figures import write_previews


def parser() -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog="python -m femur_app.preview", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="synthetic", help="a data folder, or 'synthetic' (default)")
    p.add_argument("--out", type=Path, default=Path("preview"), help="output folder (default: preview)")
    p.add_argument("--n", type=int, default=24, help="synthetic cases to draw (default 24)")
    p.add_argument("--seed", type=int, default=0)
    return p


def execute(args) -> int:
    cases = load_dataset(args.data, n=args.n, n_malignant=round(args.n * 165 / 500), seed=args.seed)
    written = write_previews(cases, args.out, seed=args.seed)
    print(f"wrote {', '.join(p.name for p in written)} to {args.out}")
    return 0


def main(argv=None) -> int:
    return cli.run(parser(), execute, argv)


if __name__ == "__main__":
    sys.exit(main())
