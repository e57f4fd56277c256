"""``python -m femur_app.train``: AlexNet-BN under the paper's protocol, cross-validated, into one run folder.

The pipeline::

    load cases -> preprocess (cached) -> assign folds (stratified by label, grouped by patient)
      -> per fold (independent tasks: in this process, in joblib workers, or on a Dask cluster):
           normalisation statistics of the training fold -> train with on-the-fly augmentation
           -> predict the held-out fold
      -> pool the out-of-fold predictions -> metrics with CIs -> figures -> report.md

The run folder (``--out``)::

    config.toml             the resolved configuration (a valid --config)
    train.log               one line per epoch of every fold, and the run's events
    checkpoints/fold_NN.npz        the trained model of fold NN (femur_app.checkpoint)
    checkpoints/fold_NN.state.npz  the last good training state of fold NN, rewritten after every epoch
    folds/fold_NN.json      a finished fold: its predictions and learning curves (written last, atomically)
    predictions.csv  metrics.json  folds.csv  roc.png  confusion_matrix.png  learning_curves.png  report.md

Running the same command on the same folder resumes: folds with a ``folds/fold_NN.json`` are skipped, a fold
with only a training state continues after its last finished epoch (weights, momentum, learning rate and the
generators of batches, augmentation and dropout restored, so the result equals an uninterrupted run), and the
outputs are rebuilt. A non-finite loss (or non-finite weights after an epoch) stops that fold: its held-out
cases are predicted by the last good checkpoint and the report says so.

Random streams, all from ``seed``: the fold split (``random_state=seed``); per fold k,
``SeedSequence(seed, spawn_key=(k, 0))`` for weights then dropout masks and ``(k, 1)`` for batch order and
augmentation; the bootstrap ``default_rng(seed)``.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from femur_app import config as configuration
from femur_app.evaluation import gallery
from femur_app.models import checkpoint
from femur_app.reporting import plots
from femur_app.evaluation.calibration import plot_reliability, reliability
from femur_app.data.augment import AugmentConfig, augment
from femur_app.training.folds import assign_folds
from femur_app.data import load_dataset, prepare_arrays
from femur_app.evaluation.metrics import summarize, to_json_safe
from femur_app.models import build_model
from femur_app.models.alexnet import ALEXNET_CHANNELS, ALEXNET_FC, feature_sizes
from femur_app.models.width import scaled
from femur_app.reporting.report import PAPER_TABLES, write_report
from minicnn import backend, init, l2_penalty
from minicnn.layers import Conv2d
from minicnn.losses import softmax, softmax_cross_entropy
from minicnn.optim import SGD, CosineLR, StepLR


# --- files ---------------------------------------------------------------------------------------------------
def write_atomic(path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text)
    os.replace(partial, path)
    return path


def log(run_dir, message: str) -> None:
    """Append one time-stamped line to ``train.log`` (appends of one short line do not interleave)."""
    with open(Path(run_dir) / "train.log", "a") as f:
        f.write(f"{datetime.now().isoformat(timespec='seconds')} {message}\n")


def fold_paths(run_dir, fold: int) -> dict[str, Path]:
    run_dir = Path(run_dir)
    return {"model": run_dir / "checkpoints" / f"fold_{fold:02d}.npz",
            "state": run_dir / "checkpoints" / f"fold_{fold:02d}.state.npz",
            "result": run_dir / "folds" / f"fold_{fold:02d}.json"}


# --- data ----------------------------------------------------------------------------------------------------
@dataclass
class Data:
    X: np.ndarray  # float32 (N, 1, S, S), preprocessed
    y: np.ndarray  # int64 (N,), 1 = malignant
    patient_ids: np.ndarray
    case_ids: np.ndarray
    description: str


def load_cases(cfg: dict):
    """The configured cases (synthetic or a folder), as load_dataset returns them."""
    data = cfg["data"]
    if data["source"] == "synthetic":
        return load_dataset("synthetic", n=data["n"], n_malignant=data["n_malignant"], seed=data["synthetic_seed"])
    return load_dataset(data["source"], skip_bad=data["skip_bad"])


def load_data(cfg: dict, run_dir: Path) -> Data:
    data = cfg["data"]
    cases = load_cases(cfg)
    if data["source"] == "synthetic":
        description = (f"built-in synthetic femur-MRI phantoms (femur_app.data.synthetic, synthetic_seed "
                       f"{data['synthetic_seed']}), not patient data")
    else:
        description = f"image folder {Path(data['source']).resolve()}"
        for skipped in cases.skipped:
            log(run_dir, f"skipped input {skipped.path}: {skipped.reason}")
        if cases.skipped:
            description += f" ({len(cases.skipped)} unreadable file(s) skipped, listed in train.log)"
    X, y, patient_ids, case_ids = prepare_arrays(cases, size=data["input_size"])
    return Data(X, y, patient_ids, case_ids, description)


# --- one fold ------------------------------------------------------------------------------------------------
def model_kwargs(cfg: dict) -> dict:
    """The builder's keyword arguments: the [model] section without ``name``."""
    return {key: value for key, value in cfg["model"].items() if key != "name"}


def make_model(cfg: dict, rng: np.random.Generator):
    """Build the configured network and apply the configured initialisation (weights from ``rng``)."""
    model = build_model(cfg["model"]["name"], rng=rng, input_size=cfg["data"]["input_size"], **model_kwargs(cfg))
    if cfg["train"]["init"] == "normal":  # the paper: normal initialisation of the convolutional layers
        for _, layer in model.named_layers():
            if isinstance(layer, Conv2d):
                init.normal_(layer, std=cfg["train"]["init_std"], rng=rng)
    model.needs_input_grad = False  # nobody needs dL/dimage during training
    return model


def make_optimizer(cfg: dict, model):
    train = cfg["train"]
    optimizer = SGD(model, lr=train["lr"], momentum=train["momentum"], nesterov=train["nesterov"])
    if train["schedule"] == "step":
        return optimizer, StepLR(optimizer, step_size=train["step_size"], gamma=train["gamma"])
    if train["schedule"] == "cosine":
        return optimizer, CosineLR(optimizer, t_max=train["epochs"])
    return optimizer, None


def normalisation_stats(X) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of the (training-fold) images, float32 (C,)."""
    mean = X.mean(axis=(0, 2, 3), dtype=np.float64)
    std = X.std(axis=(0, 2, 3), dtype=np.float64)
    return mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)


def batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Consecutive slices of ``order``; a last batch of a single case is dropped (batch norm needs two)."""
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [c for c in chunks if len(c) > 1]


class Diverged(RuntimeError):
    """A non-finite loss, weight, batch-norm statistic or evaluation output: the fold stops."""


def all_finite(model) -> bool:
    xp = backend.get_array_module(next(iter(model.state_dict().values())))
    return all(bool(xp.isfinite(v).all()) for v in model.state_dict().values())


def predict(model, X, mean, std, batch_size: int, device: str) -> np.ndarray:
    """P(malignant) of every image, in evaluation mode (running BN statistics, no dropout)."""
    probs = []
    for start in range(0, len(X), batch_size):
        x = (X[start : start + batch_size] - mean[:, None, None]) / std[:, None, None]
        logits = model.forward(to_device(x, device), train=False)
        probs.append(backend.to_cpu(softmax(logits))[:, 1])
    return np.concatenate(probs).astype(np.float64)


def to_device(x, device: str):
    return backend.to_gpu(x) if device == "cuda" else x


def cross_entropy(probs, labels) -> float:
    picked = np.where(labels == 1, probs, 1.0 - probs)
    return float(-np.log(np.clip(picked, 1e-12, None)).mean())


def train_epoch(model, optimizer, data: Data, train_idx, mean, std, cfg, batch_rng, device, bar) -> tuple[float, float]:
    """One pass over the shuffled training fold -> (mean cross-entropy, accuracy), both on the augmented batches."""
    aug = AugmentConfig.from_dict(cfg["augment"])
    order = batch_rng.permutation(train_idx)
    loss_sum = correct = seen = 0
    for number, batch in enumerate(batches(order, cfg["train"]["batch_size"]), start=1):
        x = (augment(data.X[batch], batch_rng, aug) - mean[:, None, None]) / std[:, None, None]
        logits = model.forward(to_device(x, device), train=True)
        loss, dlogits = softmax_cross_entropy(logits, to_device(data.y[batch], device))
        if not math.isfinite(loss):
            raise Diverged(f"loss {loss} on batch {number}")
        model.backward(dlogits)
        optimizer.step()
        loss_sum += loss * len(batch)
        correct += int((backend.to_cpu(logits).argmax(axis=1) == data.y[batch]).sum())
        seen += len(batch)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
    return loss_sum / seen, correct / seen


def run_fold(fold: int, data: Data, folds: np.ndarray, cfg: dict, run_dir, show_progress: bool = False) -> dict:
    """Train fold ``fold`` (resuming from its training state if one exists), predict its held-out cases, write
    its model checkpoint and result file, and return the result (see ``folds/fold_NN.json``)."""
    with threadpool_limits(limits=cfg["run"]["blas_threads"] or None):
        return _run_fold(fold, data, folds, cfg, Path(run_dir), show_progress)


def _run_fold(fold, data, folds, cfg, run_dir, show_progress):
    paths = fold_paths(run_dir, fold)
    train, device = cfg["train"], cfg["run"]["device"]
    train_idx, test_idx = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
    model_rng = np.random.default_rng(np.random.SeedSequence(cfg["seed"], spawn_key=(fold, 0)))
    batch_rng = np.random.default_rng(np.random.SeedSequence(cfg["seed"], spawn_key=(fold, 1)))
    rngs = {"model": model_rng, "batches": batch_rng}
    model = make_model(cfg, model_rng)
    if device == "cuda":
        backend.use("cupy")
        backend.to_gpu(model)
    optimizer, schedule = make_optimizer(cfg, model)
    mean, std = normalisation_stats(data.X[train_idx])  # training fold only

    epoch, history = 0, []
    if paths["state"].exists():
        epoch, history = checkpoint.load_state(paths["state"], model, optimizer, rngs)
        for _ in range(epoch if schedule else 0):  # the schedule's position
            schedule.step()
        log(run_dir, f"fold {fold}: resumed after epoch {epoch} from {paths['state'].name}")
    else:
        checkpoint.save_state(paths["state"], model, optimizer, rngs, 0, history)  # epoch 0: the first good state

    status, message = "finished", ""
    batches_per_epoch = len(batches(train_idx, train["batch_size"]))
    epoch_bar = tqdm(total=train["epochs"], initial=epoch, desc=f"fold {fold} epochs", position=1, leave=False,
                     disable=not show_progress)
    while epoch < train["epochs"]:
        started = time.perf_counter()
        batch_bar = tqdm(total=batches_per_epoch, desc=f"epoch {epoch + 1}", position=2, leave=False,
                         disable=not show_progress)
        try:
            train_loss, train_acc = train_epoch(model, optimizer, data, train_idx, mean, std, cfg, batch_rng,
                                                device, batch_bar)
            if not all_finite(model):
                raise Diverged("non-finite weights or batch-norm statistics after the epoch")
            heldout = predict(model, data.X[test_idx], mean, std, train["batch_size"], device)
            if not np.isfinite(heldout).all():
                raise Diverged("non-finite outputs in evaluation mode")
        except Diverged as error:
            status = "diverged"
            message = (f"diverged in epoch {epoch + 1} ({error}); training stopped, and the last good checkpoint "
                       f"(after epoch {epoch}, {paths['state'].name}) predicted this fold's held-out cases")
            log(run_dir, f"fold {fold}: {message}")
            print(f"fold {fold}: {message}", file=sys.stderr)
            checkpoint.load_state(paths["state"], model, optimizer, rngs)
            break
        finally:
            batch_bar.close()
        lr = optimizer.lr
        if schedule:
            schedule.step()
        epoch += 1
        history.append({"epoch": epoch, "lr": lr, "train_loss": train_loss, "train_acc": train_acc,
                        "heldout_loss": cross_entropy(heldout, data.y[test_idx]),
                        "heldout_acc": float(((heldout >= cfg["cv"]["threshold"]) == data.y[test_idx]).mean()),
                        "l2_penalty": l2_penalty(model), "seconds": time.perf_counter() - started})
        checkpoint.save_state(paths["state"], model, optimizer, rngs, epoch, history)
        h = history[-1]
        log(run_dir, f"fold {fold} epoch {epoch}/{train['epochs']} lr {lr:.5g} train_loss {h['train_loss']:.4f} "
                     f"train_acc {h['train_acc']:.3f} heldout_loss {h['heldout_loss']:.4f} "
                     f"heldout_acc {h['heldout_acc']:.3f} ({h['seconds']:.1f} s)")
        epoch_bar.update(1)
        epoch_bar.set_postfix(train_loss=f"{h['train_loss']:.4f}", heldout_loss=f"{h['heldout_loss']:.4f}")
    epoch_bar.close()

    probs = predict(model, data.X[test_idx], mean, std, train["batch_size"], device)
    if device == "cuda":
        backend.to_cpu(model)
    checkpoint.save_model(paths["model"], model, architecture=cfg["model"]["name"], model_kwargs=model_kwargs(cfg),
                          input_size=cfg["data"]["input_size"], mean=mean, std=std,
                          threshold=cfg["cv"]["threshold"], extra={"fold": fold, "epochs": epoch, "status": status})
    result = {"fold": fold, "status": status, "message": message, "epochs_run": epoch,
              "n_train": int(len(train_idx)), "n_test": int(len(test_idx)),
              "seconds": float(sum(h["seconds"] for h in history)),
              "case_ids": data.case_ids[test_idx].tolist(), "prob_malignant": probs.tolist(), "history": history}
    write_atomic(paths["result"], json.dumps(to_json_safe(result)))
    log(run_dir, f"fold {fold}: {status}, {epoch} epoch(s) trained")
    return result


# --- all folds -----------------------------------------------------------------------------------------------
def run_folds(todo: list[int], data: Data, folds, cfg: dict, run_dir: Path) -> None:
    """Run the folds in ``todo`` here, in joblib workers (``run.jobs`` > 1) or on a Dask cluster."""
    bar = tqdm(total=len(todo), desc="folds", position=0)
    scheduler, jobs = cfg["run"]["scheduler"], cfg["run"]["jobs"]
    if scheduler:
        from dask.distributed import Client, as_completed

        with Client(scheduler) as client:
            shared = client.scatter(data, broadcast=True)
            futures = [client.submit(run_fold, fold, shared, folds, cfg, run_dir, pure=False) for fold in todo]
            for future in as_completed(futures):
                future.result()
                bar.update(1)
    elif jobs > 1:
        from joblib import Parallel, delayed

        tasks = (delayed(run_fold)(fold, data, folds, cfg, run_dir) for fold in todo)
        for _ in Parallel(n_jobs=min(jobs, len(todo)), return_as="generator_unordered")(tasks):
            bar.update(1)
    else:
        for fold in todo:
            run_fold(fold, data, folds, cfg, run_dir, show_progress=True)
            bar.update(1)
    bar.close()


def estimate_seconds(cfg: dict, n_train: int, n_folds: int) -> tuple[float, float]:
    """(estimated training seconds for ``n_folds`` folds, seconds per batch): one training step on a random
    batch is timed after a warm-up step; 10% is added for the held-out passes. Folds run ``run.jobs`` at a time
    (a Dask cluster's size is not known here, so it counts as ``run.jobs`` workers too)."""
    rng = np.random.default_rng(0)
    model = make_model(cfg, rng)
    if cfg["run"]["device"] == "cuda":
        backend.to_gpu(model)
    optimizer, _ = make_optimizer(cfg, model)
    size, batch = cfg["data"]["input_size"], cfg["train"]["batch_size"]
    x = to_device(rng.standard_normal((batch, 1, size, size)).astype(np.float32), cfg["run"]["device"])
    labels = to_device(np.arange(batch) % 2, cfg["run"]["device"])
    with threadpool_limits(limits=cfg["run"]["blas_threads"] or None):
        for _ in range(2):
            started = time.perf_counter()
            _, dlogits = softmax_cross_entropy(model.forward(x), labels)
            model.backward(dlogits)
            optimizer.step()
    per_batch = time.perf_counter() - started
    per_fold = per_batch * len(batches(np.arange(n_train), batch)) * cfg["train"]["epochs"] * 1.1
    return per_fold * math.ceil(n_folds / min(cfg["run"]["jobs"], n_folds)), per_batch


def duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


# --- outputs -------------------------------------------------------------------------------------------------
def csv_text(header: list[str], rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write_outputs(run_dir: Path, data: Data, folds, results: list[dict], cfg: dict, run_info: dict) -> dict:
    """predictions.csv, metrics.json, folds.csv, the figures and report.md from the finished folds."""
    index_of = {case_id: i for i, case_id in enumerate(data.case_ids)}
    probs = np.full(len(data.y), np.nan)
    for result in results:
        probs[[index_of[c] for c in result["case_ids"]]] = result["prob_malignant"]
    threshold = cfg["cv"]["threshold"]
    preds = (probs >= threshold).astype(int)
    write_atomic(run_dir / "predictions.csv", csv_text(
        ["case_id", "patient_id", "fold", "label", "prob_malignant", "pred"],
        [[data.case_ids[i], data.patient_ids[i], int(folds[i]), int(data.y[i]), repr(float(probs[i])), int(preds[i])]
         for i in range(len(data.y))]))
    metrics = summarize(data.y, probs, folds, data.patient_ids, threshold=threshold,
                        bootstrap_replicates=cfg["cv"]["bootstrap"], seed=cfg["seed"])
    rel = reliability(data.y, probs)
    metrics["calibration"] = {"ece": rel.ece, "bins": len(rel.counts), "counts": rel.counts.tolist(),
                              "mean_predicted": rel.mean_predicted.tolist(),
                              "observed_fraction": rel.observed_fraction.tolist()}
    plot_reliability(rel, run_dir / "reliability.png", "Reliability of the out-of-fold P(malignant)")
    cases = load_cases(cfg)
    chosen, inside = gallery.build(run_dir, data, {c.case_id: c for c in cases})
    gallery.plot(chosen, run_dir / "gallery.png")
    metrics["gradcam_inside_lesion"] = gallery.summarize(inside)
    write_atomic(run_dir / "metrics.json", json.dumps(to_json_safe(metrics), indent=2))
    per_fold = {m["fold"]: m for m in metrics["per_fold"]}
    fold_rows = []
    for result in sorted(results, key=lambda r: r["fold"]):
        last = result["history"][-1] if result["history"] else {}
        m = per_fold[result["fold"]]
        fold_rows.append({"fold": result["fold"], "n_train": result["n_train"], "n_test": result["n_test"],
                          "n_test_malignant": m["malignant"], "epochs_run": result["epochs_run"],
                          "status": result["status"], "seconds": round(result["seconds"], 1),
                          "final_train_loss": last.get("train_loss"), "final_heldout_loss": last.get("heldout_loss"),
                          **{k: m[k] for k in ("accuracy", "sensitivity", "specificity", "f1", "auc")},
                          "message": result["message"]})
    write_atomic(run_dir / "folds.csv", csv_text(list(fold_rows[0]), [list(r.values()) for r in fold_rows]))
    paper = PAPER_TABLES["AlexNet-BN"]
    plots.plot_roc(data.y, probs, folds, run_dir / "roc.png",
                   paper_point=(1 - paper["specificity"] / 100, paper["sensitivity"] / 100))
    plots.plot_confusion(metrics["pooled"]["confusion"], threshold, run_dir / "confusion_matrix.png")
    plots.plot_learning_curves({r["fold"]: r["history"] for r in results if r["history"]},
                               run_dir / "learning_curves.png")
    run_info = {**run_info, "time": f"training {duration(sum(r['seconds'] for r in results))} summed over folds "
                                    f"(all sessions); this session {duration(run_info['session_seconds'])} wall clock "
                                    f"including {run_info['data_seconds']:.0f} s of data preparation"}
    write_atomic(run_dir / "report.md", write_report(metrics, fold_rows, run_info))
    return metrics


def software_versions(device: str) -> str:
    import scipy
    import skimage
    import sklearn

    import minicnn

    return (f"Python {platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}, "
            f"scikit-learn {sklearn.__version__}, scikit-image {skimage.__version__}, minicnn {minicnn.__version__}; "
            f"{platform.platform()}, device {device}")


def describe_model(cfg: dict) -> str:
    m, size = cfg["model"], cfg["data"]["input_size"]
    name = {"alexnet_bn": "AlexNet-BN", "alexnet": "AlexNet (no batch norm)"}.get(m["name"], m["name"])
    widths = "-".join(str(scaled(c, m["width"])) for c in ALEXNET_CHANNELS)
    fc = scaled(ALEXNET_FC, m["width"])
    paper = m["name"] == "alexnet_bn" and m["width"] == 1.0 and size == 224
    kind = "the paper's network" if paper else "a reduced CPU variant, not the paper's network"
    return (f"{name}, {kind}: conv {widths}, FC {fc}-{fc}, input {size} x {size} (feature maps "
            f"{' -> '.join(map(str, feature_sizes(size)))}), dropout {m['dropout']} after fc6 and fc7, "
            f"L2 {m['l2']:g} on {', '.join(m['l2_layers'])}")


def describe_protocol(cfg: dict) -> str:
    t, cv = cfg["train"], cfg["cv"]
    init_text = f"conv weights N(0, {t['init_std']:g}^2)" if t["init"] == "normal" else "He-normal weights"
    aug = ", ".join(f"{k} {v}" for k, v in cfg["augment"].items())
    return (f"{cv['folds']}-fold cross-validation stratified by label and grouped by patient; {t['epochs']} epochs, "
            f"batch {t['batch_size']}, SGD lr {t['lr']:g} momentum {t['momentum']:g}"
            f"{' (Nesterov)' if t['nesterov'] else ''}, {t['schedule']} schedule, {init_text}; "
            f"augmentation in the training fold only ({aug}); normalisation statistics from the training fold")


# --- the command ---------------------------------------------------------------------------------------------
def prepare_run_dir(run_dir: Path, cfg: dict) -> None:
    """Create the run folder, or check that an existing one was started with the same configuration."""
    saved = run_dir / "config.toml"
    if saved.exists():
        before = configuration.results_part(configuration.read_toml(saved))
        now = configuration.results_part(cfg)
        if before != now:
            changes = [f"{k}: {a!r} -> {b!r}" for k, (a, b) in sorted(flat_diff(before, now).items())]
            raise SystemExit(f"{run_dir} holds a run with a different configuration ({'; '.join(changes)}). "
                             f"Resume it with the same options, or pass another --out.")
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run_dir / "folds").mkdir(exist_ok=True)
    write_atomic(saved, configuration.to_toml(cfg))


def flat_diff(a: dict, b: dict, prefix: str = "") -> dict:
    keys = sorted(set(a) | set(b))
    diff = {}
    for key in keys:
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            diff.update(flat_diff(x, y, f"{prefix}{key}."))
        elif x != y:
            diff[f"{prefix}{key}"] = (x, y)
    return diff


def load_finished(run_dir: Path, fold: int, data: Data, folds) -> dict | None:
    """A finished fold's result, checked against today's split; None if the fold has not finished."""
    path = fold_paths(run_dir, fold)["result"]
    if not path.exists():
        return None
    result = json.loads(path.read_text())
    if result["case_ids"] != data.case_ids[folds == fold].tolist():
        raise SystemExit(f"{path}: its held-out cases differ from fold {fold} of the current data; the data changed "
                         f"since the run started. Use another --out.")
    return result


def run(cfg: dict, run_dir, command: str, profile: str) -> dict:
    """The whole cross-validation into ``run_dir``; returns metrics.json's content."""
    session_start = time.perf_counter()
    run_dir = Path(run_dir)
    prepare_run_dir(run_dir, cfg)
    if cfg["run"]["device"] == "cuda":
        backend.use("cupy")  # fails now, with the fix, when there is no GPU
    log(run_dir, f"start: {command}")
    data = load_data(cfg, run_dir)
    folds = assign_folds(data.y, data.patient_ids, cfg["cv"]["folds"], cfg["seed"])
    data_seconds = time.perf_counter() - session_start
    results = {f: r for f in range(1, cfg["cv"]["folds"] + 1) if (r := load_finished(run_dir, f, data, folds))}
    todo = [f for f in range(1, cfg["cv"]["folds"] + 1) if f not in results]
    if results:
        print(f"{run_dir}: folds {sorted(results)} already finished; running {todo}")
    if todo:
        estimate, per_batch = estimate_seconds(cfg, int((folds != todo[0]).sum()), len(todo))
        message = (f"Estimated training time: {duration(estimate)} for {len(todo)} fold(s) "
                   f"({per_batch:.2f} s per batch of {cfg['train']['batch_size']} measured on this machine)")
        print(message, flush=True)
        log(run_dir, message)
        run_folds(todo, data, folds, cfg, run_dir)
        results.update({f: load_finished(run_dir, f, data, folds) for f in todo})
    run_info = {"profile": profile, "data": data.description, "model": describe_model(cfg),
                "protocol": describe_protocol(cfg), "seed": cfg["seed"],
                "software": software_versions(cfg["run"]["device"]),
                "command": command, "data_seconds": data_seconds,
                "session_seconds": time.perf_counter() - session_start}
    metrics = write_outputs(run_dir, data, folds, list(results.values()), cfg, run_info)
    log(run_dir, f"done: pooled AUC {metrics['pooled']['auc']['value']:.3f}, "
                 f"accuracy {metrics['pooled']['accuracy']['value']:.3f}")
    return metrics


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m femur_app.train",
        description="Cross-validate AlexNet-BN under the paper's protocol and write a run folder with a report.")
    parser.add_argument("--config", type=Path, help="a TOML file overriding configs/paper.toml (partial is fine)")
    parser.add_argument("--quick", action="store_true",
                        help="the quick profile (configs/quick.toml): a reduced network, minutes on 2 CPU cores")
    parser.add_argument("--data", help="a folder of images with labels.csv instead of the synthetic set")
    parser.add_argument("--out", type=Path, help="the run folder (default runs/paper or runs/quick)")
    parser.add_argument("--folds", type=int, help="number of cross-validation folds")
    parser.add_argument("--epochs", type=int, help="training epochs per fold")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="cpu (NumPy) or cuda (CuPy)")
    parser.add_argument("--seed", type=int, help="the one seed every random choice derives from")
    parser.add_argument("--model", help="a registered model name (femur_app.models.MODELS)")
    parser.add_argument("--jobs", type=int, help="folds trained at once in joblib worker processes")
    parser.add_argument("--scheduler", help="a Dask scheduler address (e.g. tcp://127.0.0.1:8786) to run folds on")
    parser.add_argument("--skip-bad", action="store_true", help="skip unreadable images of a --data folder")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override any configuration value, e.g. --set train.lr=0.005 (repeatable)")
    return parser.parse_args(argv)


def resolve_config(args: argparse.Namespace) -> dict:
    files = ([configuration.QUICK] if args.quick else []) + ([args.config] if args.config else [])
    options = {"seed": args.seed,
               "data": {"source": args.data, "skip_bad": True if args.skip_bad else None},
               "model": {"name": args.model},
               "train": {"epochs": args.epochs},
               "cv": {"folds": args.folds},
               "run": {"device": args.device, "jobs": args.jobs, "scheduler": args.scheduler}}
    given = {k: ({kk: vv for kk, vv in v.items() if vv is not None} if isinstance(v, dict) else v)
             for k, v in options.items()}
    given = {k: v for k, v in given.items() if v not in (None, {})}
    overrides = [("command line", given)]
    overrides += [(f"--set {text}", configuration.parse_assignment(text)) for text in args.set]
    return configuration.resolve(files, overrides)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    try:
        cfg = resolve_config(args)
    except configuration.ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    profile = "quick" if args.quick else (args.config.stem if args.config else "paper")
    run_dir = args.out or Path("runs") / profile
    command = "python -m femur_app.train " + " ".join(shlex.quote(a) for a in argv)
    metrics = run(cfg, run_dir, command.strip(), profile)
    pooled = metrics["pooled"]
    print(f"{run_dir}/report.md: pooled AUC {pooled['auc']['value']:.3f} "
          f"[{pooled['auc']['ci95'][0]:.3f}, {pooled['auc']['ci95'][1]:.3f}], "
          f"accuracy {100 * pooled['accuracy']['value']:.1f}%, "
          f"sensitivity {100 * pooled['sensitivity']['value']:.1f}%, "
          f"specificity {100 * pooled['specificity']['value']:.1f}%")
    return 0


if __name__ == "__main__":
    # Run the importable module's main, so that joblib and Dask workers unpickle run_fold by its module name
    # (femur_app.train) instead of receiving a copy of this __main__ module.
    from femur_app.train import main as _main

    sys.exit(_main())
