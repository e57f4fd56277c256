"""``python -m femur_app.synth --out DIR``: write the synthetic set in the folder layout users use for their own data.

    python -m femur_app.synth --out DIR [--n 500] [--n-malignant 165] [--seed 0] [--force]

The layout (``labels.csv``, ``images/``, ``masks/``) is described in ``femur_app.data.folder``. ``--n`` is at most
``MAX_CASES`` (100,000) and the set's memory (``SyntheticSet.memory_bytes``) must fit the budget
(``femur_app.memory``); ``--seed`` lies in NumPy's range, 0 to 2**32 - 1.
"""
from __future__ import annotations

import sys
from pathlib import Path

from femur_app import cli, memory
from femur_app.data import SyntheticSet
from femur_app.data.folder import check_output_folder, write_folder
from femur_app.data.source import MAX_CASES, MAX_SEED
from femur_app.errors import ConfigError, UserError


def parser() -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog="python -m femur_app.synth", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="a new or empty folder to write (created if needed)")
    p.add_argument("--n", type=int, default=500, help="number of cases (default 500, as the paper)")
    p.add_argument("--n-malignant", type=int, default=None,
                   help="malignant cases (default: 33%% of n, the paper's 165/500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true",
                   help="write into a folder that holds files, replacing those of the same names")
    return p


def execute(args) -> int:
    n_malignant = args.n_malignant if args.n_malignant is not None else round(args.n * 165 / 500)
    if args.n < 2 or not 0 < n_malignant < args.n:
        raise UserError(f"--n {args.n} --n-malignant {n_malignant}: not a data set with both classes (expected "
                        "n >= 2 and 0 < n_malignant < n)")
    if args.n > MAX_CASES:
        raise ConfigError(f"--n {args.n}: more cases than the cap (expected at most {MAX_CASES:,})")
    if not 0 <= args.seed <= MAX_SEED:
        raise ConfigError(f"--seed {args.seed}: out of range (expected 0 to {MAX_SEED}, NumPy's seed range)")
    spec = SyntheticSet(args.n, n_malignant, args.seed)
    memory.check(spec.memory_bytes(), f"--n {args.n}")
    check_output_folder(args.out, args.force)
    cases = spec.cases(n_jobs=-1)
    table = write_folder(cases, args.out)
    print(f"wrote {len(cases)} cases ({n_malignant} malignant) to {table.parent}")
    return 0


def main(argv=None) -> int:
    return cli.run(parser(), execute, argv)


if __name__ == "__main__":
    sys.exit(main())
