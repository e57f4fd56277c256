"""Your own layers train AlexNet-BN: the capstone of the exercises (docs/exercises.md).

    python docs/capstone.py mywork                   # mywork/: your exercise files, as `start` wrote them
    python docs/capstone.py minicnn/exercises/solutions   # the worked answers, for comparison

1. Every op of your files against ``minicnn.plain``, in the order data flows through the network
   (``minicnn.exercises.capstone.check_ops``); the first op that differs is named, with the exercise to fix,
   and nothing is trained.
2. Otherwise the reduced AlexNet-BN of ``femur_app.models`` (width 0.125, a 40 x 40 input, He-normal weights)
   is trained on the built-in synthetic femur set twice from the same seed - the same weights, batches and
   dropout masks - once with ``minicnn.plain`` as the tier and once with *your* functions as the tier
   (``minicnn.set_tier`` accepts the module built from your files), and the two learning curves are printed
   side by side. Yours should follow the plain tier's to float32 rounding.

The default run (320 cases, 8 epochs) takes a few minutes on two CPU cores; ``--n``, ``--epochs`` make it
smaller or larger. This script lives in docs/ because it joins the two packages: minicnn never imports
femur_app, whose data and network it trains.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "docs"))  # the data of docs/bn_experiment.py

SETTINGS = {"data": "synthetic", "n": 320, "n_malignant": 106, "synthetic_seed": 0, "input_size": 40, "width": 0.125, "held_out": 0.25,
            "epochs": 8, "lr": 0.01, "batch_size": 16, "seed": 0}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="the folder of your exercise files")
    parser.add_argument("--n", type=int, default=SETTINGS["n"], help="synthetic cases (a quarter held out)")
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    args = parser.parse_args(argv)
    settings = dict(SETTINGS, n=args.n, n_malignant=round(args.n * 106 / 320), epochs=args.epochs)

    import minicnn
    from minicnn.exercises import capstone

    if not args.folder.is_dir():
        print(f"error: {args.folder}: no such folder (expected the folder of your exercise files)", file=sys.stderr)
        return 2
    try:
        tier = capstone.tier_from_exercises(args.folder)
        minicnn.set_tier(tier)  # the extension point: refused here if a function were missing or mis-signed
        minicnn.set_tier("fast")
    except (capstone.CapstoneError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    print(f"1. every op of the files in {args.folder} against minicnn.plain")
    results = capstone.check_ops(tier)
    failed = [r for r in results if not r.passed]
    if failed:
        first = failed[0]
        print(f"\n{first.op} differs from minicnn.plain: fix it in {first.exercise} (python -m minicnn.exercises "
              f"check {first.exercise.split(',')[0]} --file {args.folder / (first.exercise.split(',')[0] + '.py')}); "
              f"nothing was trained")
        return 1

    from bn_experiment import load_data
    from femur_app.models import alexnet_bn

    t0 = time.time()
    X, y, train_idx, held_idx = load_data(settings)
    s = settings
    print(f"\n2. AlexNet-BN, reduced (width {s['width']}, {s['input_size']} x {s['input_size']}, He-normal weights), "
          f"{len(train_idx)} synthetic training cases, {len(held_idx)} held out; SGD lr {s['lr']} momentum 0.9, "
          f"batch {s['batch_size']}, seed {s['seed']}, float32 (data: {time.time() - t0:.0f} s)")

    def make_model():
        model = alexnet_bn(rng=np.random.default_rng(s["seed"]), width=s["width"], input_size=s["input_size"])
        model.needs_input_grad = False
        return model

    def curve(which, on_epoch=None):
        return capstone.learning_curve(make_model, which, X, y, train_idx, held_idx, epochs=s["epochs"], lr=s["lr"],
                                       batch_size=s["batch_size"], seed=s["seed"] + 1, on_epoch=on_epoch)

    t0 = time.time()
    reference = curve("plain")
    plain_seconds = time.time() - t0
    header = "train loss  held-out loss  held-out acc"
    print(f"\nepoch   minicnn.plain: {header}   |   yours: {header}")
    yours = []

    def show(row):
        yours.append(row)
        p = reference[row["epoch"] - 1] if row["epoch"] <= len(reference) else None
        left = (f"{p['train_loss']:10.4f} {p['held_loss']:14.4f} {p['held_acc']:13.3f}" if p else " " * 39)
        print(f"{row['epoch']:5d}   {'':15s}{left}   |   {'':7s}{row['train_loss']:10.4f} {row['held_loss']:14.4f} "
              f"{row['held_acc']:13.3f}", flush=True)

    t0 = time.time()
    curve(tier, show)
    differences = [abs(a["train_loss"] - b["train_loss"]) for a, b in zip(reference, yours)]
    print(f"\nlargest difference between the two training-loss curves: {max(differences):.2g} "
          f"(the same weights, batches and dropout masks: float32 rounding only, when every op agrees)")
    print(f"time: minicnn.plain {plain_seconds:.0f} s, yours {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
