"""``python -m femur_app.report RUN_DIR``: the report of the folds a run has finished so far.

While ``python -m femur_app.train`` trains into RUN_DIR (another process holds the folder's lock), or after it
was stopped, this writes the report of the folds finished so far into ``RUN_DIR/partial/`` (or ``--out``):
report.md says "k of n folds" at the top, and every pooled figure and interval is of those folds only. It is the
final report's code on fewer folds and changes nothing of the run (``femur_app.training.progress``). On a
finished run it gives the run's own report again, apart from the session's time.
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

from femur_app import cli, train
from femur_app.training import progress

TRAIN = "python -m femur_app.train"


def parser() -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog="python -m femur_app.report",
                           description="Write the report of the folds a run has finished so far, without "
                                       "changing the run (it may still be training).")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run folder (train's --out)")
    p.add_argument("--out", type=Path, help="where to write the report (default RUN_DIR/partial)")
    return p


def profile_of(command: str) -> str:
    """The profile the report names, from the train command that started the run ("" for another command)."""
    if not command.startswith(TRAIN + " ") and command != TRAIN:
        return ""
    args, _ = train.parser().parse_known_args(shlex.split(command)[len(TRAIN.split()):])
    return train.profile_of(args)


def execute(args) -> int:
    command = progress.last_command(args.run_dir)
    try:
        evaluation, out, left_out = progress.report_so_far(args.run_dir, args.out, command, profile_of(command))
    except OSError as error:  # a fault of the machine or the file system, not of the user
        print(f"error: {error.filename or args.out or args.run_dir}: {error.strerror or error} (the report so far "
              "was not written)", file=sys.stderr)
        return 1
    for note in left_out:
        print(note)
    pooled = evaluation.summary.pooled
    print(f"{out}/report.md: {len(evaluation.finished)} of {evaluation.folds_total} folds "
          f"({', '.join(str(f.fold) for f in evaluation.finished)}), pooled AUC {pooled.auc.value:.3f} "
          f"[{pooled.auc.ci95[0]:.3f}, {pooled.auc.ci95[1]:.3f}] over their {evaluation.summary.cases} cases")
    return 0


def main(argv=None) -> int:
    return cli.run(parser(), execute, argv)


if __name__ == "__main__":
    sys.exit(main())
