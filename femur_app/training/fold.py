"""One fold of the cross-validation: build the network, train it on the training fold, predict the held-out fold.

Per fold k, two random streams derive from the run's seed: ``SeedSequence(seed, spawn_key=(k, 0))`` draws the
weights and then the dropout masks, ``(k, 1)`` the batch order and the augmentation. The training fold's own
statistics standardise the images (``femur_app.data.normalise``); augmentation happens on the fly, on the
training fold only.

The fold's training state (``femur_app.models.checkpoint``) is saved after an epoch when ``run.checkpoint_minutes``
have passed since the last save, and after the last epoch, so a kill loses at most that much work; an interrupted
fold resumes after its last saved epoch with weights, momentum, learning rate and both generators restored: the
result equals an uninterrupted run. Once the fold's model and result are written, the state is deleted
(``run_folder.write_finished``). A non-finite loss, weight, batch-norm statistic or held-out output stops the
fold; its held-out cases are then predicted by the last good weights (kept in memory after every good epoch), and
the result says so. The trained fold then predicts its own training cases once, to fix its operating point
(``femur_app.evaluation.operating_point``: the threshold for sensitivity >= 0.90), kept in its result and its
checkpoint.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from femur_app.config import Config, TrainConfig
from femur_app.data.augment import AugmentConfig, augment
from femur_app.data.dataset import Prepared
from femur_app.data.normalise import Normalisation
from femur_app.evaluation.operating_point import threshold_for_sensitivity
from femur_app.models import build_model, checkpoint
from femur_app.models.fold_model import predict
from femur_app.models.registry import ModelConfig
from femur_app.training import run_folder
from femur_app.training.watchdog import watch_parent
from minicnn import backend, init, l2_penalty, train_step
from minicnn.layers import Conv2d
from minicnn.optim import SGD, CosineLR, StepLR


def make_model(model_config: ModelConfig, train: TrainConfig, input_size: int, rng: np.random.Generator):
    """Build the configured network for ``input_size`` x ``input_size`` images and apply the configured
    initialisation (weights from ``rng``)."""
    model = build_model(model_config.name, rng=rng, input_size=input_size, **model_config.builder_kwargs())
    if train.init == "normal":  # the paper: normal initialisation of the convolutional layers
        for _, layer in model.named_layers():
            if isinstance(layer, Conv2d):
                init.normal_(layer, std=train.init_std, rng=rng)
    model.needs_input_grad = False  # nobody needs dL/dimage during training
    return model


def make_optimizer(train: TrainConfig, model):
    """SGD with the configured momentum, and the learning-rate schedule (None for a constant rate)."""
    optimizer = SGD(model, lr=train.lr, momentum=train.momentum, nesterov=train.nesterov)
    if train.schedule == "step":
        return optimizer, StepLR(optimizer, step_size=train.step_size, gamma=train.gamma)
    if train.schedule == "cosine":
        return optimizer, CosineLR(optimizer, t_max=train.epochs)
    return optimizer, None


def batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Consecutive slices of ``order``; a last batch of a single case is dropped (batch norm needs two)."""
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [c for c in chunks if len(c) > 1]


class Diverged(RuntimeError):
    """A non-finite loss, weight, batch-norm statistic or evaluation output: the fold stops."""


class Stopped(RuntimeError):
    """The command that sent this fold to a cluster's worker was interrupted: the fold ends before its next batch,
    writing nothing (its last saved state is where the next session resumes)."""


def all_finite(model) -> bool:
    xp = backend.get_array_module(next(iter(model.state_dict().values())))
    return all(bool(xp.isfinite(v).all()) for v in model.state_dict().values())


def copy_weights(model) -> dict:
    """A copy of the model's parameters and buffers, on their device (what a diverged fold falls back to)."""
    return {name: value.copy() for name, value in model.state_dict().items()}


def to_device(x, device: str):
    return backend.to_gpu(x) if device == "cuda" else x


def heldout_auc(probs, labels):
    """The held-out AUC of one epoch's predictions; None when the held-out cases hold a single class."""
    return float(roc_auc_score(labels, probs)) if len(np.unique(labels)) == 2 else None


def peak_rss_mib():
    """This process's peak resident memory so far (MiB), where the platform reports it (Linux: KiB); else None."""
    if sys.platform != "linux":
        return None
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cross_entropy(probs, labels) -> float:
    picked = np.where(labels == 1, probs, 1.0 - probs)
    return float(-np.log(np.clip(picked, 1e-12, None)).mean())


def train_epoch(model, optimizer, data: Prepared, train_idx, normalisation, batch_size: int,
                augmentation: AugmentConfig, device: str, batch_rng, bar, stop=None):
    """One pass over the shuffled training fold -> (mean cross-entropy, accuracy), both on the augmented batches.
    ``stop``: asked before each batch; True raises ``Stopped``."""
    order = batch_rng.permutation(train_idx)
    loss_sum = correct = seen = 0
    for number, batch in enumerate(batches(order, batch_size), start=1):
        if stop is not None and stop():
            raise Stopped(f"stopped before batch {number}")
        x = normalisation.apply(augment(data.X[batch], batch_rng, augmentation))
        step = train_step(model, optimizer, to_device(x, device), to_device(data.y[batch], device))
        if not step.finite:
            raise Diverged(f"loss {step.loss} on batch {number}")
        loss_sum += step.loss * len(batch)
        correct += int((backend.to_cpu(step.logits).argmax(axis=1) == data.y[batch]).sum())
        seen += len(batch)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
    return loss_sum / seen, correct / seen


def run_fold(fold: int, data: Prepared, folds: np.ndarray, config: Config, run_dir, show_progress: bool = False,
             parent: int | None = None, stop=None):
    """Train fold ``fold`` (resuming from its training state if one exists), predict its held-out cases, write
    its model checkpoint and result file, and return the result (see ``folds/fold_NN.json``). At most
    ``run.blas_threads`` BLAS threads meanwhile (0: the library's default). ``parent``: the pid of the command
    that sent the fold to this worker process, which ends when that parent is gone (``watchdog``). ``stop``: a
    function asked before every training batch, whose True ends the fold (``Stopped``) - how a cluster's worker
    learns that the command was interrupted."""
    if parent is not None:  # a joblib worker
        watch_parent(parent)
        # a worker's bars are off, but tqdm's default lock is a multiprocessing semaphore, which a worker stopped by
        # Ctrl-C leaks (a resource_tracker warning after the command's last line): a thread lock needs none
        tqdm.set_lock(threading.RLock())
    run_dir = Path(run_dir)
    # bars: the progress bars, closed however the fold ends (an error's line then comes after they are cleared)
    with threadpool_limits(limits=config.run.blas_threads or None), contextlib.ExitStack() as bars:
        paths = run_folder.fold_paths(run_dir, fold)
        train, device = config.train, config.run.device
        train_idx, test_idx = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        model_rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(fold, 0)))
        batch_rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(fold, 1)))
        rngs = {"model": model_rng, "batches": batch_rng}
        model = make_model(config.model, train, config.data.input_size, model_rng)
        if device == "cuda":
            backend.use("cupy")
            backend.to_gpu(model)
        optimizer, schedule = make_optimizer(train, model)
        normalisation = Normalisation.of(data.X[train_idx])  # training fold only

        epoch, history, identity = 0, [], run_folder.identity(run_dir, fold)
        if paths["state"].exists():
            epoch, history = checkpoint.load_state(run_folder.own_file(paths["state"]), model, optimizer, rngs,
                                                   identity)
            for _ in range(epoch if schedule else 0):  # the schedule's position
                schedule.step()
            run_folder.log(run_dir, f"fold {fold}: resumed after epoch {epoch} from {paths['state'].name}")
        last_good, last_saved = copy_weights(model), time.monotonic()

        status, message = "finished", ""
        batches_per_epoch = len(batches(train_idx, train.batch_size))
        epoch_bar = bars.enter_context(tqdm(total=train.epochs, initial=epoch, desc=f"fold {fold} epochs",
                                            position=1, leave=False, disable=not show_progress))
        while epoch < train.epochs:
            started = time.perf_counter()
            batch_bar = tqdm(total=batches_per_epoch, desc=f"epoch {epoch + 1}", position=2, leave=False,
                             disable=not show_progress)
            try:
                train_loss, train_acc = train_epoch(model, optimizer, data, train_idx, normalisation, train.batch_size,
                                                    config.augment, device, batch_rng, batch_bar, stop)
                if not all_finite(model):
                    raise Diverged("non-finite weights or batch-norm statistics after the epoch")
                heldout = predict(model, data.X[test_idx], normalisation, train.batch_size, device)
                if not np.isfinite(heldout).all():
                    raise Diverged("non-finite outputs in evaluation mode")
            except Diverged as error:
                status = "diverged"
                message = (f"diverged in epoch {epoch + 1} ({error}); training stopped, and the last good checkpoint "
                           f"(after epoch {epoch}, kept in memory) predicted this fold's held-out cases")
                run_folder.log(run_dir, f"fold {fold}: {message}")
                print(f"fold {fold}: {message}", file=sys.stderr)
                model.load_state_dict(last_good)
                break
            finally:
                batch_bar.close()
            lr = optimizer.lr
            if schedule:
                schedule.step()
            epoch += 1
            history.append({"epoch": epoch, "lr": lr, "train_loss": train_loss, "train_acc": train_acc,
                            "heldout_loss": cross_entropy(heldout, data.y[test_idx]),
                            "heldout_acc": float(((heldout >= config.cv.threshold) == data.y[test_idx]).mean()),
                            "heldout_auc": heldout_auc(heldout, data.y[test_idx]),
                            "l2_penalty": l2_penalty(model), "seconds": time.perf_counter() - started})
            last_good = copy_weights(model)
            if epoch == train.epochs or run_folder.checkpoint_due(last_saved, config.run.checkpoint_minutes):
                checkpoint.save_state(paths["state"], model, optimizer, rngs, epoch, history, identity)
                last_saved = time.monotonic()
            h = history[-1]
            run_folder.log(run_dir, f"fold {fold} epoch {epoch}/{train.epochs} lr {lr:.5g} "
                                    f"train_loss {h['train_loss']:.4f} train_acc {h['train_acc']:.3f} "
                                    f"heldout_loss {h['heldout_loss']:.4f} heldout_acc {h['heldout_acc']:.3f} "
                                    f"({h['seconds']:.1f} s)")
            epoch_bar.update(1)
            epoch_bar.set_postfix(train_loss=f"{h['train_loss']:.4f}", heldout_loss=f"{h['heldout_loss']:.4f}")
        epoch_bar.close()

        probs = predict(model, data.X[test_idx], normalisation, train.batch_size, device)
        # the operating point, fixed on this fold's own training cases (femur_app.evaluation.operating_point)
        operating = threshold_for_sensitivity(
            data.y[train_idx], predict(model, data.X[train_idx], normalisation, train.batch_size, device))
        if device == "cuda":
            backend.to_cpu(model)
        checkpoint.save_model(paths["model"], model, architecture=config.model.name,
                              model_kwargs=config.model.builder_kwargs(), input_size=config.data.input_size,
                              normalisation=normalisation, threshold=config.cv.threshold,
                              extra={**identity, "epochs": epoch, "status": status,
                                     "preprocess": {"roi": config.data.roi}, "operating_threshold": operating})
        result = {"fold": fold, "status": status, "message": message, "epochs_run": epoch,
                  "n_train": int(len(train_idx)), "n_test": int(len(test_idx)),
                  "seconds": float(sum(h["seconds"] for h in history)), "peak_rss_mib": peak_rss_mib(),
                  "case_ids": data.case_ids[test_idx].tolist(), "prob_malignant": probs.tolist(), "history": history,
                  "operating_threshold": operating}
        result = run_folder.write_finished(run_dir, fold, result)  # then deletes the training state
        run_folder.log(run_dir, f"fold {fold}: {status}, {epoch} epoch(s) trained")
        return result
