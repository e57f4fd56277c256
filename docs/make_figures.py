"""Regenerate every figure under docs/figures/ with one command:

    python docs/make_figures.py            # all figures (a few minutes on 2 CPU cores)
    python docs/make_figures.py im2col     # only the named ones: im2col, batchnorm

Figures and what they show (every random choice comes from a fixed seed, so a rerun draws the same picture):

- ``im2col.png`` (chapter 3): ``im2col`` on a 5 x 5 image with a 3 x 3 kernel and stride 2, and ``col2im`` of a
  matrix of ones - the adjoint counting how many windows cover each pixel.
- ``bn_histograms.png`` and ``bn_training_curves.png`` (chapter 2): AlexNet and AlexNet-BN
  (``femur_app.models``) trained side by side on the built-in synthetic femur set (``femur_app.data``) with
  the settings in ``SETTINGS``; histograms of the inputs to the ReLUs after conv1 and conv2 at a few epochs, and
  the loss and accuracy curves.
- ``figures.json``: the settings and the numbers that chapter 2 quotes, read back (and asserted) by a snippet in
  ``docs/batchnorm.md``.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from minicnn.layers.conv import col2im, im2col  # noqa: E402

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
        from femur_app.data import load_dataset, prepare_arrays
        from femur_app.models import alexnet, alexnet_bn
    except ImportError as error:  # the application is written alongside these docs
        raise SystemExit(
            f"make_figures: the batch-norm figures need femur_app.models (alexnet, alexnet_bn) and femur_app.data "
            f"(load_dataset, prepare_arrays), which could not be imported ({error}). The im2col figure does not; "
            f"run `python docs/make_figures.py im2col` for it alone."
        ) from error
    return load_dataset, prepare_arrays, alexnet, alexnet_bn


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


def relu_inputs(model, x) -> dict[str, np.ndarray]:
    """Train-mode forward of ``x`` up to the second ReLU -> the ReLU inputs after conv1 and conv2 (and the raw conv
    outputs), without touching the model's state: batch-norm buffers are restored, dropout is never reached."""
    from minicnn.layers import Conv2d, ReLU

    saved = {key: value.copy() for key, value in model.state_dict().items()}
    found, h, relus = {}, x, 0
    for layer in model.layers:
        if isinstance(layer, ReLU):
            relus += 1
            found[f"relu{relus}_input"] = h.copy()
            if relus == 2:
                break
        h = layer.forward(h, train=True)
        if isinstance(layer, Conv2d):
            found[f"{layer.name}_output"] = h.copy()
    model.load_state_dict(saved)
    return found


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
    from minicnn.losses import softmax_cross_entropy
    from minicnn.optim import SGD

    model = build(builder, settings)
    optimizer = SGD(model, lr=settings["lr"], momentum=settings["momentum"])
    batch_rng = np.random.default_rng(settings["seed"] + 1)
    history = {key: [] for key in ("train_loss", "train_acc", "held_loss", "held_acc")}
    initial = {name: model.find(name).params["weight"].copy() for name in CONV_NAMES}
    probes = {}
    if 0 in settings["probe_epochs"]:
        probes[0] = relu_inputs(model, probe)
    start = time.time()
    for epoch in range(1, settings["epochs"] + 1):
        order = batch_rng.permutation(train_idx)
        loss_sum = correct = seen = 0
        for first in range(0, len(order), settings["batch_size"]):
            batch = order[first : first + settings["batch_size"]]
            if len(batch) < 2:  # batch norm needs two samples
                continue
            logits = model.forward(X[batch], train=True)
            loss, dlogits = softmax_cross_entropy(logits, y[batch])
            model.backward(dlogits)
            optimizer.step()
            loss_sum += loss * len(batch)
            correct += int((logits.argmax(axis=1) == y[batch]).sum())
            seen += len(batch)
        held_loss, held_acc = evaluate(model, X[held_idx], y[held_idx], settings["batch_size"])
        for key, value in zip(history, (loss_sum / seen, correct / seen, held_loss, held_acc)):
            history[key].append(float(value))
        if epoch in settings["probe_epochs"]:
            probes[epoch] = relu_inputs(model, probe)
        print(f"  {name:10s} epoch {epoch:2d}: train loss {loss_sum / seen:.3f} acc {correct / seen:.3f}, "
              f"held-out loss {held_loss:.3f} acc {held_acc:.3f}  ({time.time() - start:.0f} s)", flush=True)
    change = {name: float(np.linalg.norm(model.find(name).params["weight"] - w0) / np.linalg.norm(w0))
              for name, w0 in initial.items()}
    return {"history": history, "probes": probes, "weight_change": change}


def figure_batchnorm() -> dict:
    load_dataset, prepare_arrays, alexnet, alexnet_bn = _require_femur_app()
    s = SETTINGS
    t0 = time.time()
    cases = load_dataset(s["data"], n=s["n"], n_malignant=s["n_malignant"], seed=s["synthetic_seed"])
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
            "relu_input_std": {str(epoch): {key: round(float(v.std()), 4) for key, v in found.items()}
                               for epoch, found in run["probes"].items()},
            "relu_input_positive_fraction": {str(epoch): {key: round(float((v > 0).mean()), 3)
                                                          for key, v in found.items() if key.startswith("relu")}
                                             for epoch, found in run["probes"].items()},
        }
    plot_histograms(runs)
    plot_curves(runs, summary)
    return summary


def plot_histograms(runs: dict) -> None:
    epochs = SETTINGS["probe_epochs"]
    rows = [("AlexNet", 1, "conv1 output"), ("AlexNet-BN", 1, "BN(conv1 output)"),
            ("AlexNet", 2, "conv2 output"), ("AlexNet-BN", 2, "BN(conv2 output)")]
    colours = {"AlexNet": "#d95f02", "AlexNet-BN": "#1b9e77"}
    fig, axes = plt.subplots(len(rows), len(epochs), figsize=(11, 9.5))
    for r, (name, k, what) in enumerate(rows):
        for c, epoch in enumerate(epochs):
            ax = axes[r, c]
            v = runs[name]["probes"][epoch][f"relu{k}_input"].ravel()
            lo, hi = np.percentile(v, [0.5, 99.5])
            ax.hist(v, bins=np.linspace(lo, hi, 60), color=colours[name], alpha=0.85)
            ax.axvline(0, color="black", linewidth=0.8)
            ax.set_title(f"{name}: {what}, epoch {epoch}\nstd {v.std():.3g}, mean {v.mean():.3g}, "
                         f"{100 * (v > 0).mean():.0f}% > 0", fontsize=9)
            ax.set_yticks([])
            ax.tick_params(labelsize=8)
    fig.suptitle("Inputs to the ReLU after conv1 and conv2 (a fixed batch of training images, train-mode statistics)",
                 fontsize=11)
    fig.tight_layout()
    save(fig, "bn_histograms.png")


def plot_curves(runs: dict, summary: dict) -> None:
    colours = {"AlexNet": "#d95f02", "AlexNet-BN": "#1b9e77"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
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
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8, loc="lower right")
    s = SETTINGS
    fig.suptitle(f"AlexNet vs AlexNet-BN on the synthetic femur set: {s['n']} cases, {s['input_size']}x{s['input_size']}"
                 f" input, width {s['width']}, SGD lr {s['lr']} momentum {s['momentum']}, batch {s['batch_size']}",
                 fontsize=10)
    fig.tight_layout()
    save(fig, "bn_training_curves.png")


FIGURE_MAKERS = {"im2col": figure_im2col, "batchnorm": figure_batchnorm}


def main(argv: list[str]) -> int:
    names = argv or list(FIGURE_MAKERS)
    unknown = sorted(set(names) - set(FIGURE_MAKERS))
    if unknown:
        raise SystemExit(f"make_figures: unknown figure(s) {unknown}; choose from {list(FIGURE_MAKERS)}")
    record_path = FIGURES / "figures.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    start = time.time()
    for name in names:
        t0 = time.time()
        record[name] = FIGURE_MAKERS[name]()
        print(f"{name}: {time.time() - t0:.0f} s", flush=True)
    record["settings"] = SETTINGS
    FIGURES.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"wrote {record_path.relative_to(ROOT)}; total {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
