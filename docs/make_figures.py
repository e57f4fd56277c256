"""Regenerate every figure under docs/figures/ with one command:

    python docs/make_figures.py            # im2col, bn_graph, bn_worked, dynamics (the time of the last run is
                                           # in figures.json, "seconds")
    python docs/make_figures.py im2col     # only the named ones; "batchnorm" (longer) is made only when named
    python docs/bn_experiment.py           # the learning-rate and weight-scale sweeps (bn_lr_sweep.png,
                                           # bn_weight_scale.png, bn_experiment.json; docs/bn_dynamics.md)

Figures and what they show (every random choice comes from a fixed seed, so a rerun with the same engine draws the
same picture; a change in the engine's rounding, such as a new convolution algorithm, grows through training, so
docs/bn_dynamics.md asserts ranges where it can):

- ``bn_graph.png``, ``bn_worked_example.png`` (docs/bn_dynamics.md): BN's graph with its three paths; one channel
  of M = 4 numbers forward and backward, computed by ``minicnn.plain``.
- ``bn_layer_dynamics.png`` (``DYNAMICS``): AlexNet, AlexNet-BN and AlexNet with He-normal weights, three seeds,
  reduced (width 0.125, 40 x 40): per layer and epoch the conv output and ReLU input statistics, active ReLUs,
  gradient norms and update-to-weight ratios. The record also holds each epoch's accuracies, and for AlexNet-BN the
  held-out accuracy with running, recomputed population and batch statistics.

- ``im2col.png`` (chapter 3): ``im2col`` on a 5 x 5 image with a 3 x 3 kernel and stride 2, and ``col2im`` of a
  matrix of ones - the adjoint counting how many windows cover each pixel.
- ``bn_histograms.png`` and ``bn_training_curves.png`` (chapter 2): AlexNet and AlexNet-BN
  (``femur_app.models``) trained side by side on the built-in synthetic femur set (``femur_app.data``) with
  the settings in ``SETTINGS``; histograms at a few epochs of conv1's and conv2's raw outputs (both networks) and
  of AlexNet-BN's BN outputs with batch and with running statistics, and the loss and accuracy curves.
- ``figures.json``: the settings and the numbers that chapter 2 and docs/bn_dynamics.md quote, each asserted from
  it by ``tests/test_figure_records.py``.

Every training loop here goes through ``minicnn.train_step``; the data are generator version 4 of
``femur_app/data/synthetic.py``.
"""
from __future__ import annotations

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

from minicnn.serialize import write_text_atomic  # noqa: E402

FIGURES = Path(__file__).resolve().parent / "figures"
CONV_NAMES = ("conv1", "conv2", "conv3", "conv4", "conv5")
DPI = 100
PNG_METADATA = {"Software": None}  # no matplotlib version in the file: a rerun gives the same bytes

# The run behind the chapter-2 figures. The optimiser, dropout, L2 and initialisation are the paper's
# (femur_app/configs/paper.toml); the data, input size, width and epochs are reduced so that the two runs
# take a few minutes on 2 CPU cores.
SETTINGS = {
    "data": "synthetic",
    "n": 500,                 # cases (one per patient), as the paper's 500
    "n_malignant": 165,       # as the paper's 165 of 500
    "synthetic_seed": 0,
    "input_size": 64,         # pixels per side (the paper: 224)
    "width": 0.125,           # channel multiplier: conv 12-32-48-48-32, FC 512-512 (the paper's network: 1.0)
    "held_out": 0.25,         # fraction of each class kept out of training, for the held-out curves
    "epochs": 40,
    "batch_size": 32,
    "lr": 0.01,
    "momentum": 0.9,
    "dropout": 0.6,           # drop probability after fc6 and fc7
    "l2": 1e-4,               # on conv3, conv4, conv5
    "init_std": 0.01,         # conv weights ~ N(0, 0.01^2); FC weights He-normal (femur_app's "normal" init)
    "augmentation": "none",
    "seed": 0,                # split, weights, batch order and dropout masks; the same for both networks
    "probe_epochs": [0, 5, 40],  # histograms after this many epochs (0: at initialisation)
    "probe_size": 64,         # training images in the fixed probe batch of the histograms
}


def save(fig, name: str) -> Path:
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / name
    fig.savefig(path, dpi=DPI, metadata=PNG_METADATA)
    plt.close(fig)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")
    return path


# --- im2col ----------------------------------------------------------------------------------------------------
def figure_im2col() -> dict:
    """im2col of a 5 x 5 image (values 0..24), 3 x 3 kernel, stride 2 -> a 4 x 9 matrix; col2im(ones) -> coverage."""
    from minicnn.fast.conv import col2im, im2col

    H = W = 5
    KH = KW = 3
    S = 2
    H_out = W_out = (H - KH) // S + 1
    x = np.arange(H * W, dtype=np.float64).reshape(1, 1, H, W)
    cols = np.asarray(im2col(x, KH, KW, S, S, H_out, W_out))
    coverage = col2im(np.ones_like(cols), x.shape, KH, KW, S, S, H_out, W_out)[0, 0]
    colours = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a"]

    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.8), gridspec_kw={"width_ratios": [5, 9, 5]})
    ax = axes[0]
    ax.set_title("input x (1 channel, 5 x 5)\nfour 3 x 3 windows, stride 2")
    for i in range(H):
        for j in range(W):
            ax.add_patch(plt.Rectangle((j, i), 1, 1, facecolor="white", edgecolor="0.6"))
            ax.text(j + 0.5, i + 0.5, f"{int(x[0, 0, i, j])}", ha="center", va="center", fontsize=11)
    for w, colour in enumerate(colours):
        i, j = divmod(w, W_out)
        inset = 0.06 + 0.06 * w
        ax.add_patch(plt.Rectangle((j * S + inset, i * S + inset), KW - 2 * inset, KH - 2 * inset, fill=False,
                                   edgecolor=colour, linewidth=2.5))
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)

    ax = axes[1]
    ax.set_title("cols = im2col(x): one row per window (n, i, j),\none column per kernel offset (c, p, q)")
    for r in range(cols.shape[0]):
        for c in range(cols.shape[1]):
            ax.add_patch(plt.Rectangle((c, r), 1, 1, facecolor=colours[r], alpha=0.25, edgecolor="0.6"))
            ax.text(c + 0.5, r + 0.5, f"{int(cols[r, c])}", ha="center", va="center", fontsize=11)
    ax.set_xlim(0, cols.shape[1])
    ax.set_ylim(cols.shape[0], 0)
    ax.set_xticks(np.arange(KH * KW) + 0.5, [f"(0,{p},{q})" for p in range(KH) for q in range(KW)], fontsize=8)
    ax.set_yticks(np.arange(H_out * W_out) + 0.5, [f"(0,{i},{j})" for i in range(H_out) for j in range(W_out)])
    ax.tick_params(length=0)

    ax = axes[2]
    ax.set_title("col2im(ones): how many windows\nread each pixel (the adjoint adds)")
    for i in range(H):
        for j in range(W):
            count = int(coverage[i, j])
            ax.add_patch(plt.Rectangle((j, i), 1, 1, facecolor=plt.cm.Greys(0.12 + 0.18 * count), edgecolor="0.6"))
            ax.text(j + 0.5, i + 0.5, str(count), ha="center", va="center", fontsize=11,
                    color="white" if count >= 4 else "black")
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    for ax in (axes[0], axes[2]):
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1].set_aspect("equal")
    fig.tight_layout()
    save(fig, "im2col.png")
    return {"cols": cols.astype(int).tolist(), "coverage": coverage.astype(int).tolist()}


# --- AlexNet vs AlexNet-BN ------------------------------------------------------------------------------------
def _require_femur_app():
    try:
        from femur_app.data import SyntheticSet, prepare_arrays
        from femur_app.models import alexnet, alexnet_bn
    except ImportError as error:  # the application is written alongside these docs
        raise SystemExit(
            f"make_figures: the batch-norm figures need femur_app.models (alexnet, alexnet_bn) and femur_app.data "
            f"(SyntheticSet, prepare_arrays), which could not be imported ({error}). The im2col figure does not; "
            f"run `python docs/make_figures.py im2col` for it alone."
        ) from error
    return SyntheticSet, prepare_arrays, alexnet, alexnet_bn


def held_out_split(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stratified: ``fraction`` of each class held out. -> (train indices, held-out indices), both sorted."""
    held = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        held.append(members[: int(round(fraction * len(members)))])
    held = np.sort(np.concatenate(held))
    return np.setdiff1d(np.arange(len(y)), held), held


def build(builder, settings: dict):
    """The network with the paper's initialisation: conv weights N(0, init_std^2), FC He-normal, from one seed."""
    from minicnn import init
    from minicnn.layers import Conv2d

    rng = np.random.default_rng(settings["seed"])
    model = builder(rng=rng, width=settings["width"], input_size=settings["input_size"],
                    dropout=settings["dropout"], l2=settings["l2"])
    for _, layer in model.named_layers():
        if isinstance(layer, Conv2d):
            init.normal_(layer, std=settings["init_std"], rng=rng)
    model.needs_input_grad = False
    return model


def probe_activations(model, x) -> dict[str, dict[str, np.ndarray]]:
    """Forward ``x`` up to the second ReLU in both modes, without touching the model's state -> {"train": ...,
    "eval": ...}, each {conv1_output, relu1_input, conv2_output, relu2_input}. "train" normalises with the batch's
    own statistics (what the network sees while it learns), "eval" with the running statistics (what it sees when it
    is tested). Without BN the two are the same and relu{k}_input is conv{k}_output. Batch-norm buffers are
    restored; dropout is never reached."""
    from minicnn.layers import Conv2d, ReLU

    saved = {key: value.copy() for key, value in model.state_dict().items()}
    found = {}
    for mode in ("train", "eval"):
        found[mode], h, relus = {}, x, 0
        for layer in model.layers:
            if isinstance(layer, ReLU):
                relus += 1
                found[mode][f"relu{relus}_input"] = h.copy()
                if relus == 2:
                    break
            h = layer.forward(h, train=mode == "train")
            if isinstance(layer, Conv2d):
                found[mode][f"{layer.name}_output"] = h.copy()
        model.load_state_dict(saved)
    return found


def describe(values: np.ndarray) -> dict:
    """The numbers a histogram of ``values`` shows: mean, std, extremes, fraction above 0 (a ReLU's active share)."""
    return {"mean": round(float(values.mean()), 4), "std": round(float(values.std()), 4),
            "min": round(float(values.min()), 3), "max": round(float(values.max()), 3),
            "positive_fraction": round(float((values > 0).mean()), 3)}


def evaluate(model, X, y, batch_size: int) -> tuple[float, float]:
    """Mean cross-entropy and accuracy in evaluation mode (running BN statistics, no dropout)."""
    from minicnn.losses import softmax_cross_entropy

    loss_sum = correct = 0.0
    for start in range(0, len(X), batch_size):
        logits = model.forward(X[start : start + batch_size], train=False)
        loss, _ = softmax_cross_entropy(logits, y[start : start + batch_size])
        loss_sum += loss * len(logits)
        correct += int((logits.argmax(axis=1) == y[start : start + batch_size]).sum())
    return loss_sum / len(X), correct / len(X)


def train(name: str, builder, X, y, train_idx, held_idx, probe, settings: dict) -> dict:
    from minicnn import train_step
    from minicnn.optim import SGD

    model = build(builder, settings)
    optimizer = SGD(model, lr=settings["lr"], momentum=settings["momentum"])
    batch_rng = np.random.default_rng(settings["seed"] + 1)
    history = {key: [] for key in ("train_loss", "train_acc", "held_loss", "held_acc")}
    initial = {name: model.find(name).params["weight"].copy() for name in CONV_NAMES}
    probes = {}
    if 0 in settings["probe_epochs"]:
        probes[0] = probe_activations(model, probe)
    start = time.time()
    for epoch in range(1, settings["epochs"] + 1):
        order = batch_rng.permutation(train_idx)
        loss_sum = correct = seen = 0
        for first in range(0, len(order), settings["batch_size"]):
            batch = order[first : first + settings["batch_size"]]
            if len(batch) < 2:  # batch norm needs two samples
                continue
            step = train_step(model, optimizer, X[batch], y[batch])
            loss, logits = step.loss, step.logits
            loss_sum += loss * len(batch)
            correct += int((logits.argmax(axis=1) == y[batch]).sum())
            seen += len(batch)
        held_loss, held_acc = evaluate(model, X[held_idx], y[held_idx], settings["batch_size"])
        for key, value in zip(history, (loss_sum / seen, correct / seen, held_loss, held_acc)):
            history[key].append(float(value))
        if epoch in settings["probe_epochs"]:
            probes[epoch] = probe_activations(model, probe)
        print(f"  {name:10s} epoch {epoch:2d}: train loss {loss_sum / seen:.3f} acc {correct / seen:.3f}, "
              f"held-out loss {held_loss:.3f} acc {held_acc:.3f}  ({time.time() - start:.0f} s)", flush=True)
    change = {name: float(np.linalg.norm(model.find(name).params["weight"] - w0) / np.linalg.norm(w0))
              for name, w0 in initial.items()}
    return {"history": history, "probes": probes, "weight_change": change}


def figure_batchnorm() -> dict:
    SyntheticSet, prepare_arrays, alexnet, alexnet_bn = _require_femur_app()
    s = SETTINGS
    t0 = time.time()
    cases = SyntheticSet(s["n"], s["n_malignant"], s["synthetic_seed"]).cached_cases()  # s["data"]: "synthetic"
    X, y, _, _ = prepare_arrays(cases, size=s["input_size"], n_jobs=1)
    rng = np.random.default_rng(s["seed"])
    train_idx, held_idx = held_out_split(y, s["held_out"], rng)
    mean, std = X[train_idx].mean(), X[train_idx].std()  # standardise with training statistics only
    X = ((X - mean) / std).astype(np.float32)
    probe = X[np.sort(rng.choice(train_idx, s["probe_size"], replace=False))]
    print(f"data: {len(y)} cases ({int(y.sum())} malignant), {len(train_idx)} training, {len(held_idx)} held out "
          f"({time.time() - t0:.0f} s)", flush=True)

    a, b = build(alexnet, s), build(alexnet_bn, s)  # the same weights, BN aside
    assert np.array_equal(a.find("conv1").params["weight"], b.find("conv1").params["weight"])
    runs = {}
    for name, builder in (("AlexNet", alexnet), ("AlexNet-BN", alexnet_bn)):
        runs[name] = train(name, builder, X, y, train_idx, held_idx, probe, s)

    summary = {"n_train": int(len(train_idx)), "n_held_out": int(len(held_idx)),
               "held_out_malignant_fraction": float(y[held_idx].mean()), "runs": {}}
    for name, run in runs.items():
        h = run["history"]
        summary["runs"][name] = {
            "history": {key: [round(v, 4) for v in values] for key, values in h.items()},
            "final": {key: round(values[-1], 3) for key, values in h.items()},
            "best_held_acc": round(max(h["held_acc"]), 3),
            "first_epoch_train_acc_above_0.8": next((e + 1 for e, v in enumerate(h["train_acc"]) if v > 0.8), None),
            "conv_weight_relative_change": {key: float(f"{v:.3g}") for key, v in run["weight_change"].items()},
            "probes": {str(epoch): {mode: {key: describe(v) for key, v in values.items()}
                                    for mode, values in found.items()}
                       for epoch, found in run["probes"].items()},
        }
    plot_histograms(runs)
    plot_curves(runs, summary)
    return summary


def plot_histograms(runs: dict) -> None:
    """Four rows (conv1's raw output, BN1's output, conv2's raw output, BN2's output) by the probe epochs. Every
    value is counted - no clipping - on one x-range per row shared by its epochs, and a log count axis so that the
    tails show. The raw rows overlay both networks (training-mode forward); the BN rows overlay AlexNet-BN's output
    with the batch's statistics (training mode: mean 0, std 1 by construction) and with the running statistics
    (evaluation mode: what the network is tested with)."""
    epochs = SETTINGS["probe_epochs"]
    colours = {"AlexNet": "#d95f02", "AlexNet-BN": "#1b9e77", "eval": "#7570b3"}
    rows = []  # (title, x label, [(label, colour, line style, network, mode, array)])
    for k in (1, 2):
        rows.append((f"conv{k} output, before BN (raw)", f"conv{k} output",
                     [(name, colours[name], "-", name, "train", f"conv{k}_output") for name in ("AlexNet-BN", "AlexNet")]))
        rows.append((f"AlexNet-BN: bn{k} output = ReLU{k} input", f"bn{k} output", [
            ("training mode (batch statistics)", colours["AlexNet-BN"], "-", "AlexNet-BN", "train", f"relu{k}_input"),
            ("evaluation mode (running statistics)", colours["eval"], "--", "AlexNet-BN", "eval", f"relu{k}_input")]))

    def values(epoch, network, mode, key):
        return runs[network]["probes"][epoch][mode][key].ravel()

    fig, axes = plt.subplots(len(rows), len(epochs), figsize=(13, 12.5), sharey="row")
    for r, (what, quantity, series) in enumerate(rows):
        row_values = [values(epoch, network, mode, key) for *_, network, mode, key in series for epoch in epochs]
        lo, hi = min(float(v.min()) for v in row_values), max(float(v.max()) for v in row_values)
        edges = np.linspace(lo, hi, 121)  # one range per row: widths compare across epochs
        for c, epoch in enumerate(epochs):
            ax = axes[r, c]
            notes = []
            for label, colour, style, network, mode, key in series:
                v = values(epoch, network, mode, key)
                ax.hist(v, bins=edges, histtype="step", color=colour, linestyle=style, linewidth=1.4, label=label)
                notes.append(f"std {v.std():#.3g}, {100 * (v > 0).mean():.0f}% > 0")
            for i, (note, (_, colour, *_)) in enumerate(zip(notes, series)):
                ax.text(0.98, 0.96 - 0.09 * i, note, transform=ax.transAxes, ha="right", va="top", fontsize=8,
                        color=colour)
            ax.axvline(0, color="black", linewidth=0.6)
            ax.set_yscale("log")
            ax.set_xlim(lo, hi)
            ax.set_title(f"{what}\n{'at initialisation' if epoch == 0 else f'after epoch {epoch}'}", fontsize=9)
            ax.set_xlabel(quantity, fontsize=8)
            if c == 0:
                ax.set_ylabel("count (log scale)", fontsize=8)
                ax.legend(fontsize=7, loc="upper left")
            ax.tick_params(labelsize=8)
        axes[r, 0].set_ylim(0.5, axes[r, 0].get_ylim()[1] * 300)  # headroom above the peaks for the legend and notes
    moved = runs["AlexNet"]["weight_change"]["conv1"]
    fig.suptitle(f"Conv and BN outputs on a fixed batch of {SETTINGS['probe_size']} training images: every value "
                 f"counted, one x-range per row.\nAt initialisation both networks' conv1 outputs coincide (the same "
                 f"weights). AlexNet's curves are the same in every column because it does not learn in this run:\n"
                 f"in {SETTINGS['epochs']} epochs its conv1 weights move by {100 * moved:.2g}% of their initial norm.",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    save(fig, "bn_histograms.png")


def plot_curves(runs: dict, summary: dict) -> None:
    colours = {"AlexNet": "#d95f02", "AlexNet-BN": "#1b9e77"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    epochs = np.arange(1, SETTINGS["epochs"] + 1)
    for name, run in runs.items():
        h = run["history"]
        axes[0].plot(epochs, h["train_loss"], color=colours[name], label=f"{name}, training batches")
        axes[0].plot(epochs, h["held_loss"], color=colours[name], linestyle="--", label=f"{name}, held out")
        axes[1].plot(epochs, h["train_acc"], color=colours[name], label=f"{name}, training batches")
        axes[1].plot(epochs, h["held_acc"], color=colours[name], linestyle="--", label=f"{name}, held out")
    majority = 1 - summary["held_out_malignant_fraction"]
    axes[1].axhline(majority, color="0.5", linewidth=0.8, linestyle=":", label="always 'benign' (held out)")
    axes[0].set_ylabel("cross-entropy")
    axes[1].set_ylabel("accuracy")
    axes[1].set_ylim(0.4, 1.0)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.legend(*axes[1].get_legend_handles_labels(), loc="lower center", ncol=5, fontsize=8)  # below: no curve hidden
    s = SETTINGS
    fig.suptitle(f"AlexNet vs AlexNet-BN on the synthetic femur set: {s['n']} cases, {s['input_size']}x{s['input_size']}"
                 f" input, width {s['width']}, SGD lr {s['lr']} momentum {s['momentum']}, batch {s['batch_size']}"
                 f"\none seed ({s['seed']}), N(0, {s['init_std']}^2) conv weights for both; three seeds and He-normal "
                 f"weights in docs/bn_dynamics.md", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    save(fig, "bn_training_curves.png")


# --- BN's graph and a worked example ----------------------------------------------------------------------------
WORKED = {"x": [1.0, 3.0, 5.0, 7.0], "gamma": 2.0, "beta": 0.5, "dy": [0.1, -0.2, 0.3, 0.4], "eps": 0.0}


def figure_bn_graph() -> dict:
    """The computational graph of one channel of BN (training mode): nodes, local derivatives, the three paths."""
    nodes = {"x": (0.0, 1.0), "μ": (3.2, 3.2), "σ²": (3.2, -1.2), "x̂": (6.6, 1.0), "γ": (8.0, -1.2),
             "β": (10.6, -1.2), "y": (9.3, 1.0), "L": (12.0, 1.0)}
    paths = {"direct": "#1b9e77", "mean": "#d95f02", "variance": "#7570b3", "other": "0.35"}
    edges = [("x", "x̂", "direct", "∂x̂ᵢ/∂xᵢ = s"), ("x", "μ", "mean", "∂μ/∂xⱼ = 1/M"),
             ("μ", "x̂", "mean", "∂x̂ᵢ/∂μ = −s"), ("x", "σ²", "variance", "∂σ²/∂xⱼ = 2(xⱼ−μ)/M"),
             ("μ", "σ²", "mean", "∂σ²/∂μ = −(2/M)Σ(xᵢ−μ) = 0"), ("σ²", "x̂", "variance", "∂x̂ᵢ/∂σ² = −½(xᵢ−μ)s³"),
             ("x̂", "y", "other", "∂yᵢ/∂x̂ᵢ = γ"), ("γ", "y", "other", "∂yᵢ/∂γ = x̂ᵢ"),
             ("β", "y", "other", "∂yᵢ/∂β = 1"), ("y", "L", "other", "gᵢ = ∂L/∂yᵢ")]
    fig, ax = plt.subplots(figsize=(13, 6.4))
    for a, b, path, label in edges:
        (x0, y0), (x1, y1) = nodes[a], nodes[b]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color=paths[path], linewidth=2.2, shrinkA=30, shrinkB=30,
                                    mutation_scale=18))
        dx, dy = {("x", "x̂"): (1.7, -0.25), ("μ", "σ²"): (0.0, 0.75)}.get((a, b), (0.0, 0.0))
        ax.text((x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy, label, ha="center", va="center", fontsize=9.5, color=paths[path],
                bbox=dict(facecolor="white", edgecolor="none", alpha=0.9, pad=1))
    for name, (x, y) in nodes.items():
        ax.add_patch(plt.Circle((x, y), 0.42, facecolor="white", edgecolor="black", linewidth=1.4, zorder=3))
        ax.text(x, y, name, ha="center", va="center", fontsize=15, zorder=4)
    for path, colour in list(paths.items())[:3]:
        ax.plot([], [], color=colour, linewidth=2.5, label={"direct": "path 1: x → x̂ directly (the I term)",
                                                             "mean": "path 2: through the mean μ (the 1 1ᵀ/M term)",
                                                             "variance": "path 3: through the variance σ² (the x̂ x̂ᵀ/M term)"}[path])
    ax.legend(loc="upper right", fontsize=10, frameon=False)
    ax.text(0.0, -1.2, "s = 1/sqrt(σ² + ε)\nx̂ = (x − μ)·s\ny = γ x̂ + β\n(per channel, M values)", ha="center",
            va="center", fontsize=10)
    ax.set_title("Batch normalisation of one channel in training mode: the graph the backward pass walks. x reaches x̂ "
                 "along three paths;\nthe compact backward dxⱼ = γ s (gⱼ − Σgᵢ/M − x̂ⱼ Σgᵢx̂ᵢ/M) is their sum "
                 "(docs/batchnorm.md, section 2.3)", fontsize=10)
    ax.set_xlim(-0.8, 12.8)
    ax.set_ylim(-2.0, 4.4)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    save(fig, "bn_graph.png")
    return {"edges": [[a, b, path] for a, b, path, _ in edges]}


def worked_example() -> dict:
    """BN of one channel with M = 4 numbers, forward and backward, every intermediate (eps = 0 for round numbers)."""
    from minicnn.plain import batchnorm_backward, batchnorm_forward

    w = WORKED
    x, dy = np.array(w["x"]), np.array(w["dy"])
    M = x.size
    y, cache = batchnorm_forward(x.reshape(M, 1), np.array([w["gamma"]]), np.array([w["beta"]]), eps=w["eps"])
    dx, dgamma, dbeta = batchnorm_backward(dy.reshape(M, 1), cache)
    mu, var = x.mean(), x.var()
    s = 1 / np.sqrt(var + w["eps"])
    x_hat = (x - mu) * s
    direct = w["gamma"] * s * dy                                  # path 1
    mean_path = -w["gamma"] * s * dy.sum() / M * np.ones(M)       # path 2
    var_path = -w["gamma"] * s * x_hat * (dy * x_hat).sum() / M   # path 3
    assert np.allclose(direct + mean_path + var_path, dx[:, 0]) and np.allclose(cache.x_hat[:, 0], x_hat)
    return {"M": M, "mu": mu, "var": var, "s": s, "x_hat": x_hat.tolist(), "y": y[:, 0].tolist(),
            "sum_dy": float(dy.sum()), "sum_dy_xhat": float((dy * x_hat).sum()), "dgamma": float(dgamma[0]),
            "dbeta": float(dbeta[0]), "direct": direct.tolist(), "mean_path": mean_path.tolist(),
            "var_path": var_path.tolist(), "dx": dx[:, 0].tolist()}


def figure_bn_worked() -> dict:
    w, r = WORKED, worked_example()
    fig, axes = plt.subplots(2, 1, figsize=(12, 5.6))
    forward = [[str(i + 1), f"{w['x'][i]:g}", f"{w['x'][i] - r['mu']:g}", f"{r['x_hat'][i]:.4f}", f"{r['y'][i]:.4f}"]
               for i in range(r["M"])]
    backward = [[str(i + 1), f"{w['dy'][i]:g}", f"{r['x_hat'][i] * w['dy'][i]:.4f}", f"{r['direct'][i]:.4f}",
                 f"{r['mean_path'][i]:.4f}", f"{r['var_path'][i]:.4f}", f"{r['dx'][i]:.4f}"] for i in range(r["M"])]
    backward.append(["Σ", f"{r['sum_dy']:.4g}", f"{r['sum_dy_xhat']:.4f}", "", "", "", f"{sum(r['dx']):.0e} (0 up to rounding)"])
    tables = [(forward, ["i", "xᵢ", "xᵢ − μ", "x̂ᵢ = (xᵢ − μ)·s", "yᵢ = γ x̂ᵢ + β"],
               f"Forward: μ = {r['mu']:g}, σ² = {r['var']:g} (biased), s = 1/sqrt(σ²) = {r['s']:.4f}, "
               f"γ = {w['gamma']:g}, β = {w['beta']:g}, ε = 0"),
              (backward, ["i", "gᵢ = ∂L/∂yᵢ", "gᵢ x̂ᵢ", "path 1: γ s gᵢ", "path 2: −γ s Σg/M",
                          "path 3: −γ s x̂ᵢ Σgx̂/M", "dxᵢ = sum of the paths"],
               f"Backward: dβ = Σg = {r['dbeta']:.4g}, dγ = Σ g x̂ = {r['dgamma']:.4f}; "
               f"Σ dx = 0 and Σ dx x̂ = 0 (ε = 0)")]
    for ax, (rows, header, title) in zip(axes, tables):
        ax.axis("off")
        table = ax.table(cellText=rows, colLabels=header, loc="center", cellLoc="center")
        table.auto_set_font_size(False)
        table.set_fontsize(10)
        table.scale(1, 1.5)
        ax.set_title(title, fontsize=10)
    fig.suptitle("Batch normalisation worked by hand: one channel, M = 4 values "
                 "(the numbers are minicnn.plain's, in float64)", fontsize=11)
    fig.tight_layout()
    save(fig, "bn_worked_example.png")
    return {key: (np.round(v, 6).tolist() if isinstance(v, list) else round(float(v), 6)) for key, v in r.items()}


# --- BN while a network trains: three networks, several seeds -------------------------------------------------
# A smaller run than SETTINGS, so that three networks x three seeds fit in a few minutes on
# two busy CPU cores: the quick profile's reduced AlexNet variants (femur_app.models) at a 40 x 40 input (the
# smallest the network accepts) and an eighth of the width, trained for a few epochs. It shows mechanisms, not the
# size of any effect on the paper's network or data; every caption says so.
DYNAMICS = {
    "data": "synthetic", "n": 320, "n_malignant": 106, "synthetic_seed": 0,
    "input_size": 40, "width": 0.125, "held_out": 0.25,
    "epochs": 16, "batch_size": 16, "lr": 0.01, "momentum": 0.9, "dropout": 0.6, "l2": 1e-4, "init_std": 0.01,
    "seeds": [0, 1, 2], "probe_size": 32,
    "networks": {"AlexNet": "paper init N(0, 0.01^2), no BN", "AlexNet-BN": "paper init, BN after conv1 and conv2",
                 "AlexNet-He": "He-normal init, no BN"},
}
NETWORK_COLOURS = {"AlexNet": "#d95f02", "AlexNet-BN": "#1b9e77", "AlexNet-He": "#7570b3"}
REDUCED = "reduced AlexNet variants (width 0.125, 40 x 40 input, {epochs} epochs, {n_train} training cases)"


def _dynamics_data():
    SyntheticSet, prepare_arrays, _, _ = _require_femur_app()
    s = DYNAMICS
    cases = SyntheticSet(s["n"], s["n_malignant"], s["synthetic_seed"]).cached_cases()  # s["data"]: "synthetic"
    X, y, _, _ = prepare_arrays(cases, size=s["input_size"], n_jobs=1)
    train_idx, held_idx = held_out_split(y, s["held_out"], np.random.default_rng(0))
    mean, std = X[train_idx].mean(), X[train_idx].std()
    X = ((X - mean) / std).astype(np.float32)
    probe = X[train_idx[:: max(1, len(train_idx) // s["probe_size"])][: s["probe_size"]]]
    return X, y, train_idx, held_idx, probe


def _build_dynamics(name: str, seed: int, batch_norm_input_size=None):
    """One of the three networks from one seed: AlexNet / AlexNet-BN with the paper's N(0, 0.01^2) conv weights,
    AlexNet-He with femur_app's He-normal weights."""
    from minicnn import init
    from minicnn.layers import Conv2d
    from femur_app.models import alexnet, alexnet_bn

    s = DYNAMICS
    rng = np.random.default_rng(seed)
    builder = alexnet_bn if name == "AlexNet-BN" else alexnet
    model = builder(rng=rng, width=s["width"], input_size=s["input_size"], dropout=s["dropout"], l2=s["l2"])
    if name != "AlexNet-He":
        for _, layer in model.named_layers():
            if isinstance(layer, Conv2d):
                init.normal_(layer, std=s["init_std"], rng=rng)
    model.needs_input_grad = False
    return model


def _bn_layers(model):
    from minicnn.layers import BatchNorm2d

    return [layer for layer in model.layers if isinstance(layer, BatchNorm2d)]


def _forward(model, x, bn_train: bool, record: dict | None = None):
    """Forward without dropout, BN layers in training mode (batch statistics) or evaluation mode (running ones);
    BN buffers are left as they were. ``record`` collects each conv's output and each ReLU's input."""
    from minicnn.layers import BatchNorm2d, Conv2d, ReLU

    saved = [(layer, {k: v.copy() for k, v in layer.buffers.items()}) for layer in _bn_layers(model)]
    h, last_conv = x, None
    for layer in model.layers:
        if isinstance(layer, ReLU) and record is not None and last_conv is not None:
            record[f"{last_conv}_relu_input"] = h
            last_conv = None
        h = layer.forward(h, train=bn_train and isinstance(layer, BatchNorm2d))
        if isinstance(layer, Conv2d) and record is not None:
            record[f"{layer.name}_output"] = h
            last_conv = layer.name
    for layer, buffers in saved:
        layer.buffers.update(buffers)
    return h


def _accuracy(model, X, y, bn_train: bool, batch_size: int = 64) -> float:
    """Accuracy on X in batches of ``batch_size`` (which matters only when BN uses the batch's statistics)."""
    correct = 0
    for start in range(0, len(X) - 1, batch_size):  # a last batch of one would have no variance
        logits = _forward(model, X[start:start + batch_size], bn_train)
        correct += int((logits.argmax(axis=1) == y[start:start + batch_size]).sum())
    return correct / (len(X) - (len(X) % batch_size == 1))


def _population_statistics(model, X_train):
    """Replace every BN layer's running statistics by the mean and variance of its input over the whole training
    set (layer by layer, earlier layers already using theirs); return the old buffers to restore."""
    old = [(layer, {k: v.copy() for k, v in layer.buffers.items()}) for layer in _bn_layers(model)]
    for target in _bn_layers(model):
        sums, squares, count = 0.0, 0.0, 0
        for start in range(0, len(X_train), 64):
            h = X_train[start:start + 64]
            for layer in model.layers:
                if layer is target:
                    break
                h = layer.forward(h, train=False)
            h = h.astype(np.float64)
            sums = sums + h.sum(axis=(0, 2, 3))
            squares = squares + (h ** 2).sum(axis=(0, 2, 3))
            count += h.shape[0] * h.shape[2] * h.shape[3]
        mean = sums / count
        target.buffers["running_mean"][...] = mean
        target.buffers["running_var"][...] = (squares / count - mean ** 2) * count / (count - 1)
    return old


def _train_dynamics(name, seed, X, y, train_idx, held_idx, probe, batch_size, epochs, measure=True):
    """Train one network; per epoch, the quantities of the dynamics figures (``measure``) and the accuracies."""
    from minicnn import train_step
    from minicnn.layers import Conv2d
    from minicnn.optim import SGD

    s = DYNAMICS
    model = _build_dynamics(name, seed)
    optimizer = SGD(model, lr=s["lr"], momentum=s["momentum"])
    convs = [layer for layer in model.layers if isinstance(layer, Conv2d)]
    batch_rng = np.random.default_rng(1000 + seed)
    keys = ("train_loss", "train_acc", "held_acc_running", "held_acc_population", "held_acc_batch",
            "eval_train_logit_gap", "diverged_epoch")
    out = {key: [] for key in keys}
    per_layer = {f"{q}_{c.name}": [] for c in convs for q in
                 ("relu_input_mean", "relu_input_std", "active_fraction", "conv_output_std", "grad_norm",
                  "update_ratio")}

    def probe_stats():
        record = {}
        _forward(model, probe, bn_train=True, record=record)
        for conv in convs:
            v = record[f"{conv.name}_relu_input"]
            per_layer[f"relu_input_mean_{conv.name}"].append(float(v.mean()))
            per_layer[f"relu_input_std_{conv.name}"].append(float(v.std()))
            per_layer[f"active_fraction_{conv.name}"].append(float((v > 0).mean()))
            per_layer[f"conv_output_std_{conv.name}"].append(float(record[f"{conv.name}_output"].std()))

    if measure:
        probe_stats()
    for epoch in range(1, epochs + 1):
        order = batch_rng.permutation(train_idx)
        loss_sum = correct = seen = 0
        grad_sq = {c.name: [] for c in convs}
        ratio = {c.name: [] for c in convs}
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            if len(batch) < 2:  # batch norm needs two samples
                continue
            before = {c.name: c.params["weight"].copy() for c in convs} if measure else None
            step = train_step(model, optimizer, X[batch], y[batch])
            if not step.finite:  # diverged: stop, and say in which epoch
                out["diverged_epoch"] = [epoch]
                return {k: v for k, v in out.items() if v}
            loss, logits = step.loss, step.logits
            if measure:  # the gradients of this step are still in grads; the weights have moved
                for c in convs:
                    grad_sq[c.name].append(float(np.linalg.norm(c.grads["weight"])))
                    ratio[c.name].append(float(np.linalg.norm(c.params["weight"] - before[c.name])
                                               / np.linalg.norm(before[c.name])))
            loss_sum += float(loss) * len(batch)
            correct += int((logits.argmax(axis=1) == y[batch]).sum())
            seen += len(batch)
        out["train_loss"].append(loss_sum / seen)
        out["train_acc"].append(correct / seen)
        X_held, y_held = X[held_idx], y[held_idx]
        out["held_acc_running"].append(_accuracy(model, X_held, y_held, bn_train=False))
        if _bn_layers(model):
            out["held_acc_batch"].append(_accuracy(model, X_held, y_held, bn_train=True, batch_size=batch_size))
            gap = np.mean([np.abs(_forward(model, X_held[i:i + batch_size], True)
                                  - _forward(model, X_held[i:i + batch_size], False)).mean()
                           for i in range(0, len(X_held) - 1, batch_size)])   # held-out batches of the training size
            out["eval_train_logit_gap"].append(float(gap))
            old = _population_statistics(model, X[train_idx])
            out["held_acc_population"].append(_accuracy(model, X_held, y_held, bn_train=False))
            for layer, buffers in old:
                layer.buffers.update(buffers)
        if measure:
            probe_stats()
            for c in convs:
                per_layer[f"grad_norm_{c.name}"].append(float(np.mean(grad_sq[c.name])))
                per_layer[f"update_ratio_{c.name}"].append(float(np.mean(ratio[c.name])))
    if measure:
        out.update(per_layer)
    return {k: v for k, v in out.items() if v}


def figure_dynamics() -> dict:
    """Three networks x DYNAMICS["seeds"]: per-layer activation statistics, gradient norms, update ratios, the
    learning curves, and for AlexNet-BN the held-out accuracy under running, population and batch statistics."""
    s = DYNAMICS
    t0 = time.time()
    X, y, train_idx, held_idx, probe = _dynamics_data()
    print(f"dynamics data: {len(train_idx)} training, {len(held_idx)} held out ({time.time() - t0:.0f} s)", flush=True)
    runs = {}
    for name in s["networks"]:
        for seed in s["seeds"]:
            t1 = time.time()
            runs[(name, seed)] = _train_dynamics(name, seed, X, y, train_idx, held_idx, probe, s["batch_size"],
                                                 s["epochs"])
            print(f"  {name:10s} seed {seed}: final train acc {runs[(name, seed)]['train_acc'][-1]:.3f}, held-out "
                  f"{runs[(name, seed)]['held_acc_running'][-1]:.3f} ({time.time() - t1:.0f} s)", flush=True)
    majority = 1 - float(y[held_idx].mean())
    caption = REDUCED.format(epochs=s["epochs"], n_train=len(train_idx))
    plot_layer_dynamics(runs, caption)
    summary = {"n_train": int(len(train_idx)), "n_held_out": int(len(held_idx)), "held_out_majority": round(majority, 4),
               "runs": {f"{name}/seed{seed}": {k: [float(f"{v:.4g}") for v in values] for k, values in run.items()}
                        for (name, seed), run in runs.items()}}  # 4 significant digits: update ratios are ~1e-5
    return summary


def _band(ax, x, curves, colour, label, linestyle="-"):
    """Mean over seeds as a line, min-max over seeds as a band; a run that diverged (shorter) counts until it did."""
    padded = np.full((len(curves), len(x)), np.nan)
    for row, curve in zip(padded, curves):
        row[:len(curve)] = [np.nan if v is None else v for v in curve]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: every seed had diverged
        ax.plot(x, np.nanmean(padded, axis=0), color=colour, label=label, linestyle=linestyle, linewidth=1.6)
        ax.fill_between(x, np.nanmin(padded, axis=0), np.nanmax(padded, axis=0), color=colour, alpha=0.2,
                        linewidth=0)


def plot_layer_dynamics(runs, caption):
    s = DYNAMICS
    quantities = [("conv_output_std", "std of the conv output\n(before BN, where there is one)", "log"),
                  ("relu_input_std", "std of the ReLU input\n(train-mode statistics)", "log"),
                  ("relu_input_mean", "mean of the ReLU input", "linear"),
                  ("active_fraction", "fraction of active ReLUs\n(input > 0)", "linear"),
                  ("grad_norm", "||dL/dW|| of the conv weight\n(mean over the epoch's steps)", "log"),
                  ("update_ratio", "||ΔW|| / ||W|| per step\n(mean over the epoch's steps)", "log")]
    layers = CONV_NAMES
    fig, axes = plt.subplots(len(quantities), len(layers), figsize=(15, 15), sharex=True, sharey="row")
    for r, (key, label, scale) in enumerate(quantities):
        for c, layer in enumerate(layers):
            ax = axes[r, c]
            for name in s["networks"]:
                curves = [runs[(name, seed)][f"{key}_{layer}"] for seed in s["seeds"]]
                start = 0 if len(curves[0]) == s["epochs"] + 1 else 1
                _band(ax, np.arange(start, s["epochs"] + 1), curves, NETWORK_COLOURS[name], name)
            ax.set_yscale(scale)
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title(f"{layer}{' (+ BN in AlexNet-BN)' if layer in ('conv1', 'conv2') else ''}", fontsize=10)
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
            if r == len(quantities) - 1:
                ax.set_xlabel("epoch (0: at initialisation)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Per layer and epoch: AlexNet, AlexNet-BN and AlexNet with He initialisation - {caption}; "
                 f"line: mean of {len(s['seeds'])} seeds, band: min-max", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    save(fig, "bn_layer_dynamics.png")


FIGURE_MAKERS = {"im2col": figure_im2col, "bn_graph": figure_bn_graph, "bn_worked": figure_bn_worked,
                 "dynamics": figure_dynamics, "batchnorm": figure_batchnorm}
# Made when no name is given: a few minutes on 2 CPU cores. "batchnorm" (two 40-epoch runs at 64 x 64, the figures
# of docs/batchnorm.md section 2.8) takes longer and is made only when named.
DEFAULT = ("im2col", "bn_graph", "bn_worked", "dynamics")


def main(argv: list[str]) -> int:
    names = argv or list(DEFAULT)
    unknown = sorted(set(names) - set(FIGURE_MAKERS))
    if unknown:
        raise SystemExit(f"make_figures: unknown figure(s) {unknown}; choose from {list(FIGURE_MAKERS)}")
    record_path = FIGURES / "figures.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    record = {key: value for key, value in record.items() if key in FIGURE_MAKERS or key == "seconds"}  # none gone
    start = time.time()
    record["settings"] = SETTINGS
    record["dynamics_settings"] = DYNAMICS
    record["worked_settings"] = WORKED
    FIGURES.mkdir(parents=True, exist_ok=True)
    for name in names:
        t0 = time.time()
        record[name] = FIGURE_MAKERS[name]()
        record.setdefault("seconds", {})[name] = round(time.time() - t0)
        write_text_atomic(record_path, json.dumps(record, indent=1, sort_keys=True) + "\n")  # after each figure
        print(f"{name}: {time.time() - t0:.0f} s", flush=True)
    print(f"wrote {record_path.relative_to(ROOT)}; total {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
