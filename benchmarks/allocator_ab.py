"""minicnn with and without ``minicnn.fast.reuse_freed_memory()``, each in fresh processes, in turns.

    python benchmarks/allocator_ab.py --pairs 4                  # the training step
    python benchmarks/allocator_ab.py --pairs 4 --job predict    # the femur_app.predict command

The setting is process-wide and cannot be undone, so one process cannot time both ways: each pair starts one
process with the C library's defaults and one that calls ``reuse_freed_memory()`` first, one after the other.

``--job step``: each process trains two fresh AlexNet-BN models (``benchmarks/alexnet.py``, batch 32 at 224 px)
for 2 warm-up and 4 timed steps each - a model trained longer on one batch diverges, and non-finite numbers send
the fast tier down its slow exact paths - and prints the median and best of its 8 timed steps, the kernel
(system) time per step and its peak resident memory. Read the medians side by side: best-of times hide the page
faults that come and go.

``--job predict``: the set-up of ``benchmarks/predict_throughput.py`` (the paper's network with random weights
saved as a checkpoint, ``--n`` synthetic 16-bit PNGs, the union of their lesion boxes as ``--roi``) is written
once; each process then runs ``femur_app.predict.main`` on it once, as a user's command would (after the imports),
and prints its time, the checkpoint loading's share, its kernel time, page faults and peak resident memory.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from benchmarks import alexnet  # noqa: E402
from minicnn import train_step  # noqa: E402


def step_worker(size) -> dict:
    """Runs in the subprocess: the timed steps of two fresh models."""
    x, labels = alexnet.batch(size)
    times, kernel = [], []
    for _ in range(2):
        model = alexnet.build_minicnn(size)
        optimizer = alexnet.minicnn_optimizer(model)
        for _ in range(2):
            train_step(model, optimizer, x, labels)
        for _ in range(4):
            before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            step = train_step(model, optimizer, x, labels)
            times.append(time.perf_counter() - start)
            kernel.append(resource.getrusage(resource.RUSAGE_SELF).ru_stime - before.ru_stime)
            if not step.finite:
                raise SystemExit("the loss became non-finite: times not representative")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    return {"median": float(np.median(times)), "best": min(times), "kernel": float(np.median(kernel)), "peak": peak}


TINY_PREDICT = ["data.input_size=64", "model.width=0.125"]  # --size tiny for --job predict


def predict_worker(folder: Path) -> dict:
    """Runs in the subprocess: ``femur_app.predict`` once on the set-up in ``folder``, timed."""
    from benchmarks.predict_throughput import run_predict
    from femur_app.models import checkpoint

    job = json.loads((folder / "job.json").read_text())
    argv = job["argv"]
    load_seconds = []
    real_load = checkpoint.load_model

    def timed_load(path, *args, **kwargs):
        start = time.perf_counter()
        loaded = real_load(path, *args, **kwargs)
        load_seconds.append(time.perf_counter() - start)
        return loaded

    checkpoint.load_model = timed_load
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    status, out, err = run_predict(argv)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    if status != 0 or len(out.splitlines()) != job["images"]:
        raise SystemExit(f"femur_app.predict failed (exit status {status}): {err.strip()}")
    return {"seconds": seconds, "load": load_seconds[0], "kernel": after.ru_stime - before.ru_stime,
            "faults": after.ru_minflt - before.ru_minflt, "peak": after.ru_maxrss * 1024}


def write_predict_setup(size: str, n: int, folder: Path) -> str:
    """predict_throughput's checkpoint and images in ``folder``, predict's argv and the number of images in
    ``folder/job.json``; a description of them."""
    from benchmarks import predict_throughput as pt

    config = pt.resolve_config(TINY_PREDICT if size == "tiny" else [])
    cases = pt.synthetic_cases(config, n, n_jobs=1)
    setup = pt.set_up(config, cases, "union", folder)
    (folder / "job.json").write_text(json.dumps({"argv": setup.predict_argv(), "images": n}))
    return (f"{config.model.name}, width {config.model.width}, {config.data.input_size} px, random weights; "
            f"{n} synthetic 16-bit PNGs, --roi {setup.roi}")


def run_pairs(pairs: int, worker_args: list[str], row) -> None:
    """``pairs`` times: a fresh worker process with the C library's defaults, then one with reuse; each prints
    ``row(its result)``."""
    for pair in range(1, pairs + 1):
        for mode in ("default", "reuse"):
            out = subprocess.run([sys.executable, __file__, "--worker", mode, *worker_args], capture_output=True,
                                 text=True, check=True).stdout
            print(f"pair {pair} {mode:8s} {row(json.loads(out.strip().splitlines()[-1]))}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--job", choices=["step", "predict"], default="step")
    parser.add_argument("--size", choices=["full", "tiny"], default="full")
    parser.add_argument("--n", type=int, default=64, help="images for --job predict (default 64)")
    parser.add_argument("--worker", choices=["default", "reuse"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pairs < 1 or args.n < 1:
        parser.error("--pairs and --n must be at least 1")
    if args.worker:
        if args.worker == "reuse":
            from minicnn.fast import reuse_freed_memory

            reuse_freed_memory()
        size = alexnet.FULL if args.size == "full" else alexnet.TINY
        print(json.dumps(predict_worker(args.folder) if args.job == "predict" else step_worker(size)))
        return 0
    if args.job == "step":
        print(f"minicnn training step, AlexNet-BN {args.size}, median and best of 8 steps per process, "
              f"{args.pairs} pairs")
        run_pairs(args.pairs, ["--size", args.size],
                  lambda r: f"median {r['median'] * 1e3:7.1f} ms  best {r['best'] * 1e3:7.1f} ms  "
                            f"kernel {r['kernel'] * 1e3:6.1f} ms/step  peak {r['peak'] >> 20} MiB")
        return 0
    with tempfile.TemporaryDirectory(prefix="allocator_ab_") as folder:
        print(f"femur_app.predict, one command per process: {write_predict_setup(args.size, args.n, Path(folder))}; "
              f"{args.pairs} pairs")
        run_pairs(args.pairs, ["--job", "predict", "--folder", folder],
                  lambda r: f"{args.n / r['seconds']:5.1f} images/s ({r['seconds']:.2f} s, of which loading the "
                            f"checkpoint {r['load']:.2f} s)  kernel {r['kernel']:.2f} s  {r['faults']} page faults  "
                            f"peak {r['peak'] >> 20} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
