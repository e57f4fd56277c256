"""The whole cross-validation of one configuration into one run folder: ``run(config, run_dir) -> RunResult``.

    load the data (``femur_app.data.load``: the cases and, with --test-data, the test set, both before training)
      -> assign folds -> train the unfinished folds (here, in joblib workers, or on a Dask cluster;
         ``femur_app.training.fold``)
      -> the fold models, each loaded once (``run_folder.fold_models``), and the null model (the network trained
         once on shuffled labels: ``femur_app.training.null_model``), Grad-CAM's baseline
      -> evaluate (``femur_app.evaluation.run.evaluate``: one ``RunEvaluation``)
      -> render it into the run folder (``femur_app.reporting.outputs.render``)

Running it again on the same folder resumes (``femur_app.training.run_folder``): finished folds are reused, an
interrupted fold continues after its last finished epoch, and the outputs are rebuilt. The fold split uses
``random_state=seed``; the bootstrap ``default_rng(seed)``.
"""
from __future__ import annotations

import functools
import math
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from femur_app.config import Config, ModelConfig, RunConfig, TrainConfig
from femur_app.data import load
from femur_app.data.source import check_folders
from femur_app.data.dataset import Prepared
from femur_app.evaluation.duplicates import near_duplicates, warning_line
from femur_app.evaluation.metrics import Summary
from femur_app.evaluation.predictions import Predictions
from femur_app.evaluation.repeats import RepeatsSummary
from femur_app.evaluation.run import FinishedFold, RunEvaluation, evaluate
from femur_app.models.fold_model import FoldModel
from femur_app.reporting.outputs import render
from femur_app.reporting.setup import RunSetup, duration, software_versions
from femur_app.errors import ConfigError, MissingDependency
from femur_app.training import fingerprint, run_folder
from femur_app.training.resources import SCHEDULER_TIMEOUT, check_run_settings
from femur_app.training.fold import batches, make_model, make_optimizer, run_fold, to_device
from femur_app.training.folds import assign_folds
from femur_app.training.null_model import null_model
from minicnn import backend, train_step
from minicnn.fast import blas


FOLD_RETRIES = 2  # on a Dask cluster: times a fold that raised is submitted again (it resumes from its state)


@dataclass
class RunResult:
    """A run's folder, data, pooled out-of-fold predictions (in the data's case order, with each case's fold) and
    their summary; a network's run also gives its whole evaluation, a repeated run its repetitions' summary and
    each repetition's own predictions (in the same case order; ``compare`` tests each repetition)."""

    run_dir: Path
    data: Prepared
    predictions: Predictions
    summary: Summary
    evaluation: RunEvaluation | None = None
    repeats: RepeatsSummary | None = None
    repetitions: list[Predictions] | None = None


def run(config: Config, run_dir, command: str = "", profile: str = "", restart: bool = False) -> RunResult:
    """The whole cross-validation into ``run_dir`` (created, or resumed; ``restart``: started over); ``command``
    and ``profile`` go into the report (how to reproduce the run, and its name). The folder is locked meanwhile."""
    run_dir = Path(run_dir)
    check_run_settings(config.run)  # a GPU or a cluster that cannot be used: one line, before anything is written
    check_folders(config.data)  # so is a --data or --test-data folder that is not there
    with run_folder.lock(run_dir):
        started = time.perf_counter()
        run_folder.prepare(run_dir, config, restart)
        run_folder.log(run_dir, f"start: {command}")
        log = functools.partial(run_folder.log, run_dir)
        report_blas(config.run, log)
        data = load(config.data.source, config.data, log)
        test = load(config.data.test_source, config.data, log, test=True) if config.data.test_source else None
        duplicates = near_duplicates(data, test) if test is not None else []
        if duplicates:  # said before any fold trains, so that the user can stop and look
            print(warning_line(duplicates), file=sys.stderr, flush=True)
            log(warning_line(duplicates, shown=len(duplicates)))
        folds = assign_folds(data.y, data.patient_ids, config.cv.folds, config.seed)
        # the same run, or a UserError naming the change
        run_folder.check_fingerprint(run_dir, fingerprint.of_run(config, data.case_ids, data.patient_ids, data.y,
                                                                 data.X, folds))
        data_seconds = time.perf_counter() - started
        finished = train_folds(data, folds, config, run_dir)
        null = null_model(data, config, run_dir)  # Grad-CAM's null baseline: trained once, on shuffled labels
        evaluation = evaluate_folds(config, run_dir, data, finished, test, null)
        if evaluation.test is not None and evaluation.test.shared_patients:
            shared = evaluation.test.shared_patients
            log(f"test set: {len(shared)} patient id(s) also in the training set: {shared[:20]}")
        setup = RunSetup(config, profile, command, software_versions(config.run.device), data_seconds,
                         time.perf_counter() - started)
        with run_folder.staged_outputs(run_dir) as staging:  # moved in together once all are written
            render(evaluation, setup, staging)
        pooled = evaluation.summary.pooled
        log(f"done: pooled AUC {pooled.auc.value:.3f}, accuracy {pooled.accuracy.value:.3f}")
    return RunResult(run_dir, data, evaluation.predictions, evaluation.summary, evaluation)


def report_blas(run_config: RunConfig, log) -> None:
    """Print and log which BLAS the folds' GEMMs run on (library, kernels, the threads a fold gets) and warn, in
    one line, when the environment forces it onto narrower vector instructions than the processor has."""
    with threadpool_limits(limits=run_config.blas_threads or None):
        line = f"BLAS: {blas.describe()}" + (" per fold" if run_config.blas_threads else "")
    print(line, flush=True)
    log(line)
    warning = blas.forced_lower_isa(os.environ, blas.cpu_flags())
    if warning:
        print(warning, file=sys.stderr, flush=True)
        log(warning)


def evaluate_folds(config: Config, run_dir: Path, data: Prepared, finished: list[FinishedFold],
                   test: Prepared | None, null: FoldModel | None = None) -> RunEvaluation:
    """The evaluation of the ``finished`` folds of ``run_dir`` (all of them, or those so far: the report of a run in
    progress is this same function, ``femur_app.training.progress``); each fold model is read once. ``null``: the
    network trained on shuffled labels (``femur_app.training.null_model``), Grad-CAM's baseline, or None."""
    models = run_folder.fold_models(run_dir, [fold.fold for fold in finished])
    cv = config.cv
    return evaluate(data, finished, models, folds_total=cv.folds, threshold=cv.threshold, bootstrap=cv.bootstrap,
                    seed=config.seed, roi=config.data.roi, modality=config.data.modality, test=test,
                    batch_size=config.train.batch_size, jobs=config.run.jobs, null_model=null)


def train_folds(data: Prepared, folds: np.ndarray, config: Config, run_dir: Path) -> list[FinishedFold]:
    """Every fold, finished: those the folder holds are reused, the others trained (after an estimate of their
    time, printed and logged)."""
    all_folds = range(1, config.cv.folds + 1)
    results = {f: r for f in all_folds if (r := run_folder.load_finished(run_dir, f, data.case_ids, folds))}
    todo = [f for f in all_folds if f not in results]
    if results:
        print(f"{run_dir}: folds {sorted(results)} already finished; running {todo}")
    if todo:
        estimate, per_batch = estimate_seconds(config.model, config.train, config.run, config.data.input_size,
                                               int((folds != todo[0]).sum()), len(todo))
        message = (f"Estimated training time: {duration(estimate)} for {len(todo)} fold(s) "
                   f"({per_batch:.2f} s per batch of {config.train.batch_size} measured on this machine)")
        print(message, flush=True)
        run_folder.log(run_dir, message)
        run_folds(todo, data, folds, config, run_dir)
        results.update({f: run_folder.load_finished(run_dir, f, data.case_ids, folds) for f in todo})
    return [FinishedFold.from_record(results[f]) for f in all_folds]


def run_folds(todo: list[int], data: Prepared, folds, config: Config, run_dir: Path) -> None:
    """Run the folds in ``todo`` here, in joblib workers (``run.jobs`` > 1) or on a Dask cluster.

    On a cluster the prepared data go to every worker once (``scatter``), not with each fold's task. A fold whose
    worker dies is run again by the scheduler on another worker (up to Dask's ``allowed-failures``), and one
    that raises is retried ``FOLD_RETRIES`` times; either way it resumes from its own latest training state in the
    run folder, which must therefore be on storage that every worker shares, and it ends with the predictions
    of an undisturbed run (``run_fold``: the state holds the weights, momentum and both random generators). Two
    folds in one worker process (a worker of several threads) would share its process-wide BLAS limit and the
    fast tier's thread count, and so their rounding: such a cluster is warned about.

    Interrupted (Ctrl-C, or SIGTERM, which femur_app.cli raises here too), every fold stops: joblib kills its
    workers, a cluster's folds stop at their next batch (``_fold_on_worker``). A command killed outright stops
    nothing itself: each joblib worker watches its parent (femur_app.training.watchdog), and a cluster's folds see
    the scheduler let go of their tasks once the command's client is gone."""
    bar = tqdm(total=len(todo), desc="folds", position=0)
    try:
        if config.run.scheduler:
            _on_cluster(todo, data, folds, config, run_dir, bar)
        elif config.run.jobs > 1:
            tasks = (delayed(run_fold)(fold, data, folds, config, run_dir, parent=os.getpid()) for fold in todo)
            for _ in Parallel(n_jobs=min(config.run.jobs, len(todo)), return_as="generator_unordered")(tasks):
                bar.update(1)
        else:
            for fold in todo:
                run_fold(fold, data, folds, config, run_dir, show_progress=True)
                bar.update(1)
    except BaseException:
        bar.leave = False  # an interrupted or failed run's bar is cleared, so that the line saying why comes last
        raise
    finally:
        bar.close()


def _on_cluster(todo: list[int], data: Prepared, folds, config: Config, run_dir: Path, bar) -> None:
    """``run_folds`` on the Dask cluster whose scheduler is ``run.scheduler``."""
    scheduler = config.run.scheduler
    try:
        from dask.distributed import Client, Event, as_completed  # optional: pip install -e ".[dask]"
    except ImportError as error:
        raise MissingDependency(f"run.scheduler {scheduler}: needs dask[distributed] ({error}): pip install -e "
                                "\".[dask]\"") from error
    try:
        client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
    except Exception as error:  # OSError, TimeoutError, or whatever the bytes of a server that is not Dask cause
        raise ConfigError(f"run.scheduler {scheduler}: no Dask scheduler answered ({type(error).__name__}: "
                          f"{str(error)[:200]}) (expected the address of a running scheduler)") from error
    with client:
        threads = client.nthreads()
        crowded = sorted(address for address, n in threads.items() if n > 1)
        if crowded:
            print(f"warning: {len(crowded)} Dask worker(s) run {max(threads.values())} threads: folds that share a "
                  "worker process share its BLAS and fast-tier thread settings, so their predictions can differ from "
                  "a serial run's in the last digits (start workers with --nthreads 1)", file=sys.stderr, flush=True)
        shared = client.scatter(data, broadcast=True)
        # a running task cannot be stopped from outside its worker: each fold asks this session's event before
        # every batch, and an interrupted command sets it, then cancels every fold
        stop = Event(f"femur_app-stop-{uuid.uuid4().hex}", client=client)
        futures = [client.submit(_fold_on_worker, fold, shared, folds, config, run_dir, stop.name, pure=False,
                                 retries=FOLD_RETRIES) for fold in todo]
        try:
            for future in as_completed(futures):
                future.result()
                bar.update(1)
        except BaseException:
            stop.set()
            client.cancel(futures, force=True)
            raise


def _fold_on_worker(fold: int, data: Prepared, folds, config: Config, run_dir: Path, stop_event: str):
    """``run_fold`` in a Dask worker. The fold stops at its next batch when the command sets the Dask event
    ``stop_event`` (Ctrl-C, SIGTERM), or when the scheduler has let go of its task - the command's client is gone
    (killed outright) or cancelled it - which the worker's own record of the task shows (no longer "executing")."""
    from dask.distributed import Event, get_worker

    event, worker = Event(stop_event), get_worker()
    key = worker.get_current_task()

    def stop() -> bool:
        task = worker.state.tasks.get(key)
        return task is None or task.state != "executing" or event.is_set()

    return run_fold(fold, data, folds, config, run_dir, stop=stop)


def estimate_seconds(model_config: ModelConfig, train: TrainConfig, run_config: RunConfig, input_size: int,
                     n_train: int, n_folds: int) -> tuple[float, float]:
    """(estimated training seconds for ``n_folds`` folds of ``n_train`` training cases, seconds per batch): one
    training step on a random batch is timed after a warm-up step; 10% is added for the held-out passes. Folds
    run ``run.jobs`` at a time (a Dask cluster's size is not known here, so it counts as ``run.jobs`` workers
    too)."""
    rng = np.random.default_rng(0)
    model = make_model(model_config, train, input_size, rng)
    device = run_config.device
    if device == "cuda":
        backend.to_gpu(model)
    optimizer, _ = make_optimizer(train, model)
    batch = train.batch_size
    x = to_device(rng.standard_normal((batch, 1, input_size, input_size)).astype(np.float32), device)
    labels = to_device(np.arange(batch) % 2, device)
    with threadpool_limits(limits=run_config.blas_threads or None):
        for _ in range(2):
            started = time.perf_counter()
            train_step(model, optimizer, x, labels)
    per_batch = time.perf_counter() - started
    per_fold = per_batch * len(batches(np.arange(n_train), batch)) * train.epochs * 1.1
    return per_fold * math.ceil(n_folds / min(run_config.jobs, n_folds)), per_batch
