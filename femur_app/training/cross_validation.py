"""The whole cross-validation of one configuration into one run folder: ``run(config, run_dir) -> RunResult``.

    load the cases -> prepare them (preprocessed, cached; masks and ids beside) -> assign folds
      -> the unfinished folds (here, in joblib workers, or on a Dask cluster; ``femur_app.training.fold``)
      -> pooled out-of-fold predictions -> outputs and report (``femur_app.reporting.outputs``)

Running it again on the same folder resumes (``femur_app.training.run_folder``): finished folds are reused, an
interrupted fold continues after its last finished epoch, and the outputs are rebuilt. The fold split uses
``random_state=seed``; the bootstrap ``default_rng(seed)``.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from femur_app.config import Config
from femur_app.data import load
from femur_app.data.dataset import Prepared
from femur_app.reporting.outputs import describe_model, describe_protocol, duration, software_versions, write_outputs
from femur_app.reporting.predictions import Predictions
from femur_app.training import run_folder, test_set
from femur_app.training.fold import batches, make_model, make_optimizer, run_fold, to_device
from femur_app.training.folds import assign_folds
from minicnn import backend, train_step
from minicnn.fast import reuse_freed_memory


@dataclass
class RunResult:
    run_dir: Path
    data: Prepared
    predictions: Predictions  # pooled out-of-fold, in the data's case order (with each case's fold)
    metrics: dict  # metrics.json's content


def run(config: Config, run_dir, command: str = "", profile: str = "", restart: bool = False) -> RunResult:
    """The whole cross-validation into ``run_dir`` (created, or resumed; ``restart``: started over); ``command``
    and ``profile`` go into the report (how to reproduce the run, and its name). The folder is locked meanwhile."""
    with run_folder.lock(run_dir):
        return _run(config, Path(run_dir), command, profile, restart)


def _run(config: Config, run_dir: Path, command: str, profile: str, restart: bool) -> RunResult:
    session_start = time.perf_counter()
    run_folder.prepare(run_dir, config, restart)
    if config.run.device == "cuda":
        backend.use("cupy")  # fails now, with the fix, when there is no GPU
    run_folder.log(run_dir, f"start: {command}")
    log = functools.partial(run_folder.log, run_dir)
    data = load(config.data.source, config.data, log)
    test_data = load(config.data.test_source, config.data, log, test=True) if config.data.test_source else None
    folds = assign_folds(data.y, data.patient_ids, config.cv.folds, config.seed)
    run_folder.check_fingerprint(run_dir, config, data, folds)  # the same run, or a UserError naming the change
    data_seconds = time.perf_counter() - session_start
    all_folds = range(1, config.cv.folds + 1)
    results = {f: r for f in all_folds if (r := run_folder.load_finished(run_dir, f, data.case_ids, folds))}
    todo = [f for f in all_folds if f not in results]
    if results:
        print(f"{run_dir}: folds {sorted(results)} already finished; running {todo}")
    if todo:
        estimate, per_batch = estimate_seconds(config, int((folds != todo[0]).sum()), len(todo))
        message = (f"Estimated training time: {duration(estimate)} for {len(todo)} fold(s) "
                   f"({per_batch:.2f} s per batch of {config.train.batch_size} measured on this machine)")
        print(message, flush=True)
        run_folder.log(run_dir, message)
        run_folds(todo, data, folds, config, run_dir)
        results.update({f: run_folder.load_finished(run_dir, f, data.case_ids, folds) for f in todo})
    predictions = pooled_predictions(data, folds, results.values(), config.cv.threshold)
    models = run_folder.fold_models(run_dir, sorted(results))  # each checkpoint read once, for every use below
    test = None
    if test_data is not None:
        test = test_set.evaluate(test_data, models, data, threshold=config.cv.threshold,
                                 bootstrap=config.cv.bootstrap, seed=config.seed, batch_size=config.train.batch_size)
        if test.shared_patients:
            run_folder.log(run_dir, f"test set: {len(test.shared_patients)} patient id(s) also in the training set: "
                                    f"{test.shared_patients[:20]}")
    run_info = {"profile": profile, "data": data.description, "model": describe_model(config),
                "protocol": describe_protocol(config), "seed": config.seed,
                "software": software_versions(config.run.device), "command": command, "data_seconds": data_seconds,
                "session_seconds": time.perf_counter() - session_start}
    with run_folder.staged_outputs(run_dir) as staging:  # moved in together once all are written
        metrics = write_outputs(staging, data, predictions, list(results.values()), models, config, run_info, test)
    run_folder.log(run_dir, f"done: pooled AUC {metrics['pooled']['auc']['value']:.3f}, "
                            f"accuracy {metrics['pooled']['accuracy']['value']:.3f}")
    return RunResult(run_dir, data, predictions, metrics)


def pooled_predictions(data: Prepared, folds, results, threshold: float) -> Predictions:
    """Every fold's held-out probabilities in one array, in the data's case order."""
    index_of = {case_id: i for i, case_id in enumerate(data.case_ids)}
    probs = np.full(len(data.y), np.nan)
    for result in results:
        probs[[index_of[c] for c in result["case_ids"]]] = result["prob_malignant"]
    return Predictions(data.case_ids, data.patient_ids, folds, data.y, probs, threshold)


def run_folds(todo: list[int], data: Prepared, folds, config: Config, run_dir: Path) -> None:
    """Run the folds in ``todo`` here, in joblib workers (``run.jobs`` > 1) or on a Dask cluster."""
    bar = tqdm(total=len(todo), desc="folds", position=0)
    scheduler, jobs = config.run.scheduler, config.run.jobs
    if scheduler:
        from dask.distributed import Client, as_completed

        with Client(scheduler) as client:
            shared = client.scatter(data, broadcast=True)
            futures = [client.submit(run_fold, fold, shared, folds, config, run_dir, pure=False) for fold in todo]
            for future in as_completed(futures):
                future.result()
                bar.update(1)
    elif jobs > 1:
        from joblib import Parallel, delayed

        tasks = (delayed(run_fold)(fold, data, folds, config, run_dir) for fold in todo)
        for _ in Parallel(n_jobs=min(jobs, len(todo)), return_as="generator_unordered")(tasks):
            bar.update(1)
    else:
        for fold in todo:
            run_fold(fold, data, folds, config, run_dir, show_progress=True)
            bar.update(1)
    bar.close()


def estimate_seconds(config: Config, n_train: int, n_folds: int) -> tuple[float, float]:
    """(estimated training seconds for ``n_folds`` folds, seconds per batch): one training step on a random
    batch is timed after a warm-up step; 10% is added for the held-out passes. Folds run ``run.jobs`` at a time
    (a Dask cluster's size is not known here, so it counts as ``run.jobs`` workers too)."""
    reuse_freed_memory()  # as run_fold does, so that the step timed is the step the folds will take
    rng = np.random.default_rng(0)
    model = make_model(config, rng)
    device = config.run.device
    if device == "cuda":
        backend.to_gpu(model)
    optimizer, _ = make_optimizer(config, model)
    size, batch = config.data.input_size, config.train.batch_size
    x = to_device(rng.standard_normal((batch, 1, size, size)).astype(np.float32), device)
    labels = to_device(np.arange(batch) % 2, device)
    with threadpool_limits(limits=config.run.blas_threads or None):
        for _ in range(2):
            started = time.perf_counter()
            train_step(model, optimizer, x, labels)
    per_batch = time.perf_counter() - started
    per_fold = per_batch * len(batches(np.arange(n_train), batch)) * config.train.epochs * 1.1
    return per_fold * math.ceil(n_folds / min(config.run.jobs, n_folds)), per_batch
