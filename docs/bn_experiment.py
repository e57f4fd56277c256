"""What batch normalisation does to training: a learning-rate sweep and a weight-scale sweep, several seeds.

    python docs/bn_experiment.py            # the reported run -> docs/figures/bn_experiment.json, bn_lr_sweep.png,
                                            #                     bn_weight_scale.png (docs/bn_dynamics.md)
    python docs/bn_experiment.py --pilot    # the pilot that chose the reported run's design -> bn_pilot.json

Three networks, the reduced AlexNet variants of ``femur_app.models`` (width 0.125, a 40 x 40 input), all with
femur_app's He-normal weights from the same draws, so that the one without BN can train at all and they differ
only in their BN layers: ``alexnet`` (no BN), ``alexnet_bn`` (BN after conv1 and conv2, the paper's AlexNet-BN) and
AlexNet-BN-all (BN also after conv3-conv5, fc6 and fc7: after every layer but the last). Everything else is the
paper's: SGD with momentum 0.9, batch 16, dropout 0.6, L2 1e-4 on conv3-conv5. Every epoch visits each training
case once, in a new order (sampling without replacement), and trains through ``minicnn.train_step``; a run whose
loss stops being finite is stopped there and recorded as diverged in that epoch.

- **Learning-rate sweep**: the three networks at every rate of ``lrs``.
- **Weight-scale sweep**: at the learning rate ``scale_lr``, the initial weights of every layer but the last
  multiplied by each factor of ``scales``. BN's output does not depend on the scale of the weights before it
  (chapter 2, section 2.7): with BN after every scaled layer the forward pass is unchanged and only the size of
  each step relative to the weights changes; without BN the factor reaches the logits to the seventh power.

Three pilots on another synthetic set (``synthetic_seed`` 1) and another seed (100), over wider grids, chose the
design (``PILOT``; their records are docs/figures/bn_pilot_1.json, bn_pilot_2.json and bn_pilot.json, the first
two made by earlier versions of this script, as their "note" says); nothing of the reported run was looked at
before its grids, epochs and seeds were fixed. docs/bn_dynamics.md says what the pilots showed. The record's
``seconds`` is the measured time of the reported run.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "docs"))  # make_figures' held-out split

FIGURES = ROOT / "docs" / "figures"
PNG_METADATA = {"Software": None}

EXPERIMENT = {
    "data": "synthetic", "n": 500, "n_malignant": 165, "synthetic_seed": 0, "input_size": 40, "width": 0.125,
    "held_out": 0.25, "batch_size": 16, "momentum": 0.9, "dropout": 0.6, "l2": 1e-4, "init": "he",
    "networks": ["AlexNet", "AlexNet-BN", "AlexNet-BN-all"], "seeds": [0, 1, 2],
    "epochs": 20, "lrs": [0.003, 0.01, 0.03, 0.1, 0.3], "scale_lr": 0.01, "scales": [0.1, 1.0, 10.0, 100.0],
    # chosen from the pilot (PILOT, docs/figures/bn_pilot.json) before this run was made: see docs/bn_dynamics.md
}
PILOT = dict(EXPERIMENT, synthetic_seed=1, seeds=[100], epochs=20,
             lrs=[0.003, 0.01, 0.03, 0.1, 0.3, 1.0], scales=[0.1, 1.0, 10.0, 100.0])
COLOURS = {"AlexNet": "#d95f02", "AlexNet-BN": "#1b9e77", "AlexNet-BN-all": "#7570b3"}
MARKERS = {"AlexNet": "s", "AlexNet-BN": "o", "AlexNet-BN-all": "^"}


def load_data(settings: dict):
    """Standardised (X, y, train indices, held-out indices): a stratified hold-out of ``held_out`` per class, drawn
    as docs/make_figures.py draws it (``held_out_split`` with seed 0); the statistics from the training cases."""
    from femur_app.data import SyntheticSet, prepare_arrays
    from make_figures import held_out_split

    cases = SyntheticSet(settings["n"], settings["n_malignant"], settings["synthetic_seed"]).cached_cases()
    X, y, _, _ = prepare_arrays(cases, size=settings["input_size"], n_jobs=1)
    train, held = held_out_split(y, settings["held_out"], np.random.default_rng(0))
    mean, std = X[train].mean(), X[train].std()
    return ((X - mean) / std).astype(np.float32), y, train, held


NETWORKS = {"AlexNet": "no batch norm", "AlexNet-BN": "BN after conv1 and conv2 (the paper's AlexNet-BN)",
            "AlexNet-BN-all": "BN after every convolution and after fc6 and fc7"}
SCALED = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7")  # every layer but the last


def build(network: str, seed: int, scale: float, settings: dict):
    """The network from one seed (He-normal weights, the same draws for all three), the initial weights of every
    layer but the last (``SCALED``) multiplied by ``scale``. AlexNet-BN-all is AlexNet-BN with a BN layer after
    conv3, conv4, conv5 (BatchNorm2d), fc6 and fc7 (BatchNorm1d) too, before their ReLU; those layers keep their
    bias, which the BN after them makes redundant. With BN after every scaled layer, the scale changes nothing
    in the forward pass."""
    from femur_app.models import alexnet, alexnet_bn
    from minicnn.layers import BatchNorm1d, BatchNorm2d, Conv2d, Linear, Sequential

    builder = alexnet if network == "AlexNet" else alexnet_bn
    model = builder(rng=np.random.default_rng(seed), width=settings["width"], input_size=settings["input_size"],
                    dropout=settings["dropout"], l2=settings["l2"])
    if network == "AlexNet-BN-all":
        layers = []
        for layer in model.layers:
            layers.append(layer)
            if isinstance(layer, Conv2d) and layer.name in ("conv3", "conv4", "conv5"):
                layers.append(BatchNorm2d(layer.out_channels, name=f"bn{layer.name[-1]}"))
            elif isinstance(layer, Linear) and layer.name in ("fc6", "fc7"):
                layers.append(BatchNorm1d(layer.out_features, name=f"bn{layer.name[-1]}"))
        model = Sequential(*layers)
    for name in SCALED:
        model.find(name).params["weight"] *= np.float32(scale)
    model.needs_input_grad = False
    return model


def evaluate(model, X, y) -> tuple[float, float, float]:
    """Held-out cross-entropy, accuracy and AUC in evaluation mode (running BN statistics, no dropout)."""
    from sklearn.metrics import roc_auc_score

    from minicnn import softmax_cross_entropy
    from minicnn.losses import softmax

    logits = np.concatenate([model.forward(X[i:i + 64], train=False) for i in range(0, len(X), 64)])
    if not np.isfinite(logits).all():
        return float("nan"), float("nan"), float("nan")
    loss, _ = softmax_cross_entropy(logits, y)
    return float(loss), float((logits.argmax(axis=1) == y).mean()), float(roc_auc_score(y, softmax(logits)[:, 1]))


def train_one(network, seed, lr, scale, data, settings) -> dict:
    """One run: per epoch the mean training loss over the epoch's batches and the held-out loss, accuracy, AUC."""
    from minicnn import train_step
    from minicnn.optim import SGD

    X, y, train_idx, held_idx = data
    model = build(network, seed, scale, settings)
    optimizer = SGD(model, lr=lr, momentum=settings["momentum"])
    order_rng = np.random.default_rng(1000 + seed)
    run = {"train_loss": [], "held_loss": [], "held_acc": [], "held_auc": []}
    for epoch in range(1, settings["epochs"] + 1):
        order = order_rng.permutation(train_idx)  # every training case once per epoch
        losses = []
        for first in range(0, len(order), settings["batch_size"]):
            batch = order[first:first + settings["batch_size"]]
            if len(batch) < 2:  # batch norm needs two values per channel
                continue
            step = train_step(model, optimizer, X[batch], y[batch])
            if not step.finite:
                run["diverged_epoch"] = epoch
                return run
            losses.append(step.loss)
        run["train_loss"].append(round(float(np.mean(losses)), 5))
        for key, value in zip(("held_loss", "held_acc", "held_auc"), evaluate(model, X[held_idx], y[held_idx])):
            run[key].append(round(value, 5))
    return run


def run_all(settings: dict, jobs: int = 2) -> dict:
    from joblib import Parallel, delayed

    data = load_data(settings)
    tasks = [("lr", network, seed, lr, 1.0) for network in settings["networks"] for lr in settings["lrs"]
             for seed in settings["seeds"]]
    tasks += [("scale", network, seed, settings["scale_lr"], scale) for network in settings["networks"]
              for scale in settings["scales"] for seed in settings["seeds"] if scale != 1.0]
    start = time.time()
    results = Parallel(n_jobs=jobs, verbose=5)(delayed(train_one)(network, seed, lr, scale, data, settings)
                                               for _, network, seed, lr, scale in tasks)
    runs = {}
    for (_, network, seed, lr, scale), run in zip(tasks, results):
        runs[f"{network}/lr{lr:g}/scale{scale:g}/seed{seed}"] = run
    X, y, train_idx, held_idx = data
    return {"settings": settings, "n_train": int(len(train_idx)), "n_held_out": int(len(held_idx)),
            "held_out_majority": round(1 - float(y[held_idx].mean()), 4),
            "seconds": round(time.time() - start), "runs": runs}


def run_key(network, lr, scale, seed) -> str:
    return f"{network}/lr{lr:g}/scale{scale:g}/seed{seed}"


def final(run: dict, key: str) -> float:
    """The last epoch's value, or nan for a run that diverged."""
    return float("nan") if "diverged_epoch" in run else run[key][-1]


# --- figures ----------------------------------------------------------------------------------------------------
def _band(ax, x, rows, colour, label, marker="o", linestyle="-"):
    """The mean of the runs that did not diverge (nan) as a line, their min-max as a band; a value where every run
    diverged is left out (the x marks say so)."""
    rows = np.array(rows, dtype=float)
    some = ~np.isnan(rows).all(axis=0)
    x = np.asarray(x, dtype=float)[some]
    rows = rows[:, some]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column where some runs diverged
        ax.plot(x, np.nanmean(rows, axis=0), color=colour, marker=marker, linestyle=linestyle, label=label)
        ax.fill_between(x, np.nanmin(rows, axis=0), np.nanmax(rows, axis=0), color=colour, alpha=0.2, linewidth=0)


def _mark_diverged(ax, x, counts, n_seeds, colour, y_position):
    for value, count in zip(x, counts):
        if count:
            ax.plot([value], [y_position], "x", color=colour, markersize=9, markeredgewidth=2.2)
            ax.annotate(f"{count}/{n_seeds}", (value, y_position), textcoords="offset points", xytext=(9, -3),
                        fontsize=7, color=colour)


def sweep_figure(record: dict, axis: str, name: str, highlight: float) -> Path:
    """Three panels: the training loss and the held-out AUC after the last epoch against the swept value, and the
    held-out AUC epoch by epoch at the value ``highlight``. Every line is the mean of the seeds that did not
    diverge, the band their range; an x counts the seeds that diverged (loss not finite) at that value."""
    s = record["settings"]
    values = s["lrs"] if axis == "lr" else s["scales"]
    seeds = s["seeds"]

    def key(network, value, seed):
        return run_key(network, value, 1.0, seed) if axis == "lr" else run_key(network, s["scale_lr"], value, seed)

    what = "learning rate" if axis == "lr" else "factor on the initial weights"
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    for offset, network in enumerate(s["networks"]):
        colour = COLOURS[network]
        runs = [[record["runs"][key(network, v, seed)] for v in values] for seed in seeds]
        diverged = [sum("diverged_epoch" in row[i] for row in runs) for i in range(len(values))]
        for panel, metric, floor in ((0, "train_loss", 0.06), (1, "held_auc", 0.42)):
            _band(axes[panel], values, [[final(r, metric) for r in row] for row in runs], colour,
                  f"{network} ({NETWORKS[network]})", marker=MARKERS[network])
            _mark_diverged(axes[panel], values, diverged, len(seeds), colour, floor + 0.04 * offset)
        chosen = [record["runs"][key(network, highlight, seed)] for seed in seeds]
        curves = [run["held_auc"] + [np.nan] * (s["epochs"] - len(run["held_auc"])) for run in chosen]
        if any(run["held_auc"] for run in chosen):
            _band(axes[2], np.arange(1, s["epochs"] + 1), curves, colour, network, marker="")
        lost = sum("diverged_epoch" in run for run in chosen)
        if lost:
            axes[2].annotate(f"{network}: {lost}/{len(seeds)} diverged (in epoch "
                             f"{', '.join(str(run['diverged_epoch']) for run in chosen if 'diverged_epoch' in run)})",
                             (0.02, 0.04 + 0.06 * offset), xycoords="axes fraction", fontsize=8, color=colour)
    majority = record["held_out_majority"]
    prior_loss = -(majority * np.log(majority) + (1 - majority) * np.log(1 - majority))
    for ax in axes[:2]:
        ax.set_xscale("log")
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.set_xlabel(what if axis == "lr" else f"{what} (all but the last layer; lr {s['scale_lr']:g})")
        ax.grid(alpha=0.3)
    axes[0].axhline(prior_loss, color="0.4", linestyle=":", linewidth=0.9,
                    label=f"loss of predicting the class shares ({prior_loss:.3f})")
    axes[0].set_ylabel(f"training loss in epoch {s['epochs']}\n(training mode, dropout on)")
    axes[0].set_ylim(0, 1.5)
    axes[1].axhline(0.5, color="0.4", linestyle=":", linewidth=0.9, label="AUC of a guess (0.5)")
    axes[1].set_ylabel(f"held-out AUC after epoch {s['epochs']}")
    axes[1].set_ylim(0.4, 0.9)
    axes[2].axhline(0.5, color="0.4", linestyle=":", linewidth=0.9)
    axes[2].set_xlabel("epoch")
    axes[2].set_ylabel("held-out AUC")
    axes[2].set_title(f"epoch by epoch at {what} {highlight:g}", fontsize=10)
    axes[2].set_ylim(0.4, 0.9)
    axes[2].grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper left")
    axes[1].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"Reduced AlexNet with and without BN (width {s['width']}, {s['input_size']} x {s['input_size']}, "
                 f"He-normal weights), {record['n_train']} synthetic training cases, {record['n_held_out']} held out, "
                 f"{s['epochs']} epochs, batch {s['batch_size']}\nlines: mean of seeds {seeds} (those that did not "
                 f"diverge), bands: their range; x: how many seeds diverged (loss not finite)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / name
    fig.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(fig)
    print(f"wrote {path.relative_to(ROOT)}")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pilot", action="store_true", help="run the pilot (another data set and seed, wider grids)")
    parser.add_argument("--record", help="where to write the record (default: docs/figures/bn_experiment.json, or "
                                         "bn_pilot.json with --pilot)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--figures-only", action="store_true", help="redraw the figures from the committed record")
    args = parser.parse_args(argv)
    settings = PILOT if args.pilot else EXPERIMENT
    path = Path(args.record) if args.record else FIGURES / ("bn_pilot.json" if args.pilot else "bn_experiment.json")
    if args.figures_only:
        record = json.loads(path.read_text())
    else:
        record = run_all(settings, args.jobs)
        from minicnn.serialize import write_text_atomic

        FIGURES.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path.relative_to(ROOT)} ({record['seconds']} s)")
    if not args.pilot:  # the third panel: the rate and the factor at which the networks without BN throughout diverge
        sweep_figure(record, "lr", "bn_lr_sweep.png", highlight=0.1)
        sweep_figure(record, "scale", "bn_weight_scale.png", highlight=100.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
