"""``python -m femur_app.train``: AlexNet-BN under the paper's protocol, cross-validated, into one run folder.

The work is ``femur_app.training.run``; the run folder's layout and how resuming works are described in
``femur_app.training.run_folder``; the configuration in ``femur_app.config``.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from femur_app import cli, config as configuration, training
from femur_app.training import repeats
from femur_app.training.run_folder import AFTER_INTERRUPT
from minicnn.fast import reuse_freed_memory


def parser() -> cli.ArgumentParser:
    p = cli.ArgumentParser(
        prog="python -m femur_app.train",
        description="Cross-validate AlexNet-BN under the paper's protocol and write a run folder with a report.")
    p.add_argument("--config", type=Path, help="a TOML file overriding configs/paper.toml (partial is fine)")
    p.add_argument("--quick", action="store_true",
                   help="the quick profile (configs/quick.toml): a reduced network, minutes on 2 CPU cores")
    p.add_argument("--data", help="a folder of images with labels.csv instead of the synthetic set")
    p.add_argument("--test-data", metavar="DIR|synthetic:SEED",
                   help="an independent test set predicted after cross-validation by the fold models' mean "
                        "probability: a folder like --data, or synthetic:SEED (a fresh synthetic set)")
    p.add_argument("--repeats", type=int, help="repetitions of the cross-validation with new split and init seeds")
    p.add_argument("--out", type=Path, help="the run folder (default runs/paper or runs/quick)")
    p.add_argument("--folds", type=int, help="number of cross-validation folds")
    p.add_argument("--epochs", type=int, help="training epochs per fold")
    p.add_argument("--device", choices=("cpu", "cuda"), help="cpu (NumPy) or cuda (CuPy)")
    p.add_argument("--seed", type=int, help="the one seed every random choice derives from")
    p.add_argument("--model", help="a registered model name (femur_app.models.MODELS)")
    p.add_argument("--jobs", type=int, help="folds trained at once in joblib worker processes")
    p.add_argument("--scheduler", help="a Dask scheduler address (e.g. tcp://127.0.0.1:8786) to run folds on")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images of a --data folder")
    p.add_argument("--max-pixels", type=int, help="refuse images of more pixels before decoding them "
                                                  "(data.max_pixels; default 5120 x 5120)")
    p.add_argument("--allow-outside", action="store_true",
                   help="let labels.csv name files outside the --data folder (absolute paths, ..)")
    p.add_argument("--restart", action="store_true",
                   help="start the run folder over: delete its checkpoints, fold results and outputs")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any configuration value, e.g. --set train.lr=0.005 (repeatable)")
    return p


def resolve_config(args: argparse.Namespace) -> configuration.Config:
    """The configuration these options select: paper.toml, --quick, --config, the options, then each --set."""
    return configuration.resolve_options(
        quick=args.quick, config_file=args.config, assignments=args.set,
        options={"seed": args.seed, "data": {"source": args.data, "skip_bad": True if args.skip_bad else None,
                                             "test_source": args.test_data, "max_pixels": args.max_pixels,
                                             "allow_outside": True if args.allow_outside else None},
                 "model": {"name": args.model}, "train": {"epochs": args.epochs},
                 "cv": {"folds": args.folds, "repeats": args.repeats},
                 "run": {"device": args.device, "jobs": args.jobs, "scheduler": args.scheduler}})


def profile_of(args: argparse.Namespace) -> str:
    """The run's name in its report and default folder: quick, paper, or the --config file's stem."""
    return "quick" if args.quick else (args.config.stem if args.config else "paper")


def execute(args, argv) -> int:
    config = resolve_config(args)
    profile = profile_of(args)
    run_dir = args.out or Path("runs") / profile
    command = ("python -m femur_app.train " + " ".join(shlex.quote(a) for a in argv)).strip()
    reuse_freed_memory(children=True)  # this process, and the joblib workers it starts inherit it at their start
    #                                    (minicnn.fast.allocator); never called inside a worker
    folder = run_dir / "repeat_NN" if config.cv.repeats > 1 else run_dir
    print(f"report of the folds finished so far, at any time: python -m femur_app.report {folder} "
          f"(into {folder / 'partial'})", flush=True)
    if config.cv.repeats > 1:
        summary = repeats.run_repeated(config, run_dir, lambda c, d: training.run(c, d, command, profile,
                                                                                 restart=args.restart),
                                       restart=args.restart).repeats
        ci, auc = summary.ci95_with_training_variance.auc, summary.mean_sd["auc"]
        print(f"{run_dir}/report.md: {len(summary.repetitions)} repetitions, AUC {auc.mean:.3f} ± {auc.sd:.3f} "
              f"[{ci[0]:.3f}, {ci[1]:.3f}] with training variance")
        return 0
    evaluation = training.run(config, run_dir, command, profile, restart=args.restart).evaluation
    test = evaluation.test
    for name, pooled in (("pooled", evaluation.summary.pooled), ("test set", test and test.summary.pooled)):
        if pooled:
            print(f"{run_dir}/report.md: {name} AUC {pooled.auc.value:.3f} "
                  f"[{pooled.auc.ci95[0]:.3f}, {pooled.auc.ci95[1]:.3f}], "
                  f"accuracy {100 * pooled.accuracy.value:.1f}%, "
                  f"sensitivity {100 * pooled.sensitivity.value:.1f}%, "
                  f"specificity {100 * pooled.specificity.value:.1f}%")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    return cli.run(parser(), lambda args: execute(args, argv), argv, resume=AFTER_INTERRUPT)


if __name__ == "__main__":
    sys.exit(main())
