"""``python -m femur_app.compare``: every model through the same cross-validation, side by side.

Each CNN in ``--models`` is trained by ``femur_app.training.run`` into ``<out>/<model>`` (a finished run folder is
reused, an interrupted one resumed); ``radiomics`` is the hand-crafted-feature baseline on exactly the same folds
(``femur_app.training.baseline``). An entry ``NAME:ROI`` runs that model with ``data.roi = ROI`` into
``<out>/NAME-roi_ROI``: ``--models alexnet_bn,alexnet_bn:box,alexnet_bn:mask`` is the preprocessing ablation, on
the same folds (the split depends only on the cases and the seed). The comparison (``comparison.md``,
``comparison.csv``, ``roc_all.png``) is written into ``<out>``, a run folder of its own kind
(``femur_app.training.run_folder.claim``), by ``femur_app.reporting.comparison``. With ``--repeats K`` every
model runs the same K repetitions (the same seeds, so the same splits; ``femur_app.training.repeats``), the table
gives each model's AUC per repetition, and DeLong's tests, Holm-corrected over all pairs, compare every repetition
and combine them by Rubin's rules, so that the spread between trainings counts
(``femur_app.evaluation.repeated_delong``).
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

from femur_app import cli, training
from femur_app.config import resolve_options
from femur_app.data import load
from femur_app.errors import ConfigError
from femur_app.reporting.comparison import label, write_comparison
from femur_app.training.baseline import run_radiomics
from femur_app.training.repeats import run_repeated
from femur_app.training.run_folder import AFTER_INTERRUPT, lock
from minicnn.fast import reuse_freed_memory

CNN_MODELS = ("alexnet_bn", "alexnet", "googlenet")
MODEL_SETTINGS = {  # the paper's L2 names AlexNet's conv3-conv5, which GoogLeNet does not have; GoogLeNet's own dropout
    "googlenet": ["model.l2_layers=[]", "model.dropout=0.4"]}


def parser() -> cli.ArgumentParser:
    p = cli.ArgumentParser(prog="python -m femur_app.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="alexnet_bn,alexnet,googlenet,radiomics",
                   help="comma-separated; MODEL:ROI runs a model with data.roi = ROI (otsu, box, mask), e.g. "
                        "alexnet_bn,alexnet_bn:box,alexnet_bn:mask for the preprocessing ablation "
                        "(default: %(default)s)")
    p.add_argument("--out", type=Path, help="folder for the runs and the comparison (default runs/compare[-quick])")
    p.add_argument("--quick", action="store_true", help="the quick profile for every CNN (reduced variants)")
    p.add_argument("--seed", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--folds", type=int)
    p.add_argument("--jobs", type=int)
    p.add_argument("--data")
    p.add_argument("--test-data", help="an independent test set for every model (see python -m femur_app.train)")
    p.add_argument("--repeats", type=int, help="repetitions of the cross-validation, the same seeds for every model")
    p.add_argument("--device", choices=("cpu", "cuda"))
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="passed to every train run, e.g. --set train.lr=0.005")
    return p


def model_config(model: str, args):
    """The configuration of one entry of ``--models``, ``NAME`` or ``NAME:ROI`` (radiomics uses AlexNet-BN's data
    and folds)."""
    model, _, roi = model.partition(":")
    name = "alexnet_bn" if model == "radiomics" else model
    variant = [f'data.roi="{roi}"'] if roi else []
    return resolve_options(quick=args.quick, assignments=MODEL_SETTINGS.get(name, []) + args.set + variant, options={
        "seed": args.seed, "data": {"source": args.data, "test_source": args.test_data}, "model": {"name": name},
        "train": {"epochs": args.epochs}, "cv": {"folds": args.folds, "repeats": args.repeats},
        "run": {"jobs": args.jobs, "device": args.device}})


def execute(args, argv) -> int:
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    known = CNN_MODELS + ("radiomics",)
    if {m.partition(":")[0] for m in models} - set(known) or len(models) < 2 or len(set(models)) < len(models):
        raise ConfigError(f"--models {args.models}: not two or more known models "
                          f"(expected two or more of {', '.join(known)})")
    out = args.out or Path("runs") / ("compare-quick" if args.quick else "compare")
    command = ("python -m femur_app.compare " + " ".join(shlex.quote(a) for a in argv)).strip()
    configs = {model: model_config(model, args) for model in models}  # every model, ROI and size checked now
    check_inputs(configs.values())
    reuse_freed_memory(children=True)  # this process, and the joblib workers it starts inherit it at their start
    #                                    (minicnn.fast.allocator); never called inside a worker
    with lock(out, "comparison"):  # a comparison's folder, or refused; each model's folder is a run's
        return compare(configs, out, args, command)


def check_inputs(configs) -> None:
    """Read and check every data set that the models will train and be tested on (``--data``, ``--test-data``,
    each ROI's preparation), before any model trains: a typo in ``--test-data``, or a folder that one ROI cannot
    use, fails in seconds instead of after the first models' cross-validations. The prepared arrays stay in the
    disk cache, from which each model's run reads them back."""
    seen = set()
    for config in configs:
        if repr(config.data) in seen:
            continue
        seen.add(repr(config.data))
        load(config.data.source, config.data)
        if config.data.test_source:
            load(config.data.test_source, config.data, test=True)


def compare(configs: dict, out: Path, args, command: str) -> int:
    """Run (or resume) every model of ``configs`` (its entry of ``--models`` -> its configuration) into its folder
    under ``out``, then write the comparison."""
    results = {}
    for model, config in configs.items():
        print(f"== {label(model)} -> {out / model.replace(':', '-roi_')}", flush=True)
        profile = "quick" if args.quick else "paper"
        run_one = (run_radiomics if model.startswith("radiomics")
                   else lambda c, d: training.run(c, d, command, profile))
        folder = out / model.replace(":", "-roi_")
        results[model] = (run_repeated(config, folder, run_one) if config.cv.repeats > 1 else run_one(config, folder))
    size = config.data.input_size
    note = (f" The CNNs are the quick profile's reduced CPU variants (a quarter of the channels, {size} x {size} input),"
            " not the paper's full-size networks." if args.quick else "")
    text = write_comparison(out, {m: r.predictions for m, r in results.items()},
                            {m: r.summary for m, r in results.items()},
                            {m: r.repeats for m, r in results.items() if r.repeats is not None}, note,
                            {m: r.repetitions for m, r in results.items() if r.repetitions is not None})
    print(f"{out / 'comparison.md'}\n{text}")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    return cli.run(parser(), lambda args: execute(args, argv), argv, resume=AFTER_INTERRUPT)


if __name__ == "__main__":
    sys.exit(main())
