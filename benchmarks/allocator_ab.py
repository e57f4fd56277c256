"""minicnn's training step with and without ``minicnn.fast.reuse_freed_memory()``, each in fresh processes, in turns.

    python benchmarks/allocator_ab.py --pairs 4

The setting is process-wide and cannot be undone, so one process cannot time both ways: each pair starts one
process with the C library's defaults and one that calls ``reuse_freed_memory()`` first, one after the other. Each
process trains two fresh AlexNet-BN models (``benchmarks/alexnet.py``, batch 32 at 224 px) for 2 warm-up and 4
timed steps each - a model trained longer on one batch diverges, and non-finite numbers send the fast tier down
its slow exact paths - and prints the median and best of its 8 timed steps, the kernel (system) time per step
and its peak resident memory. Read the medians side by side: best-of times hide the page faults that come and go.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from benchmarks import alexnet  # noqa: E402


def worker(reuse: bool, size) -> dict:
    """Runs in the subprocess: the timed steps of two fresh models."""
    if reuse:
        from minicnn.fast import reuse_freed_memory

        reuse_freed_memory()
    x, labels = alexnet.batch(size)
    times, kernel = [], []
    for _ in range(2):
        model = alexnet.build_minicnn(size)
        optimizer = alexnet.minicnn_optimizer(model)
        for _ in range(2):
            alexnet.minicnn_step(model, optimizer, x, labels)
        for _ in range(4):
            before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            loss = alexnet.minicnn_step(model, optimizer, x, labels)
            times.append(time.perf_counter() - start)
            kernel.append(resource.getrusage(resource.RUSAGE_SELF).ru_stime - before.ru_stime)
            if not np.isfinite(loss):
                raise SystemExit("the loss became non-finite: times not representative")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    return {"median": float(np.median(times)), "best": min(times), "kernel": float(np.median(kernel)), "peak": peak}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--size", choices=["full", "tiny"], default="full")
    parser.add_argument("--worker", choices=["default", "reuse"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size = alexnet.FULL if args.size == "full" else alexnet.TINY
    if args.worker:
        print(json.dumps(worker(args.worker == "reuse", size)))
        return 0
    print(f"minicnn training step, AlexNet-BN {args.size}, median and best of 8 steps per process, {args.pairs} pairs")
    for pair in range(1, args.pairs + 1):
        for mode in ("default", "reuse"):
            out = subprocess.run([sys.executable, __file__, "--worker", mode, "--size", args.size],
                                 capture_output=True, text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(f"pair {pair} {mode:8s} median {r['median'] * 1e3:7.1f} ms  best {r['best'] * 1e3:7.1f} ms  "
                  f"kernel {r['kernel'] * 1e3:6.1f} ms/step  peak {r['peak'] >> 20} MiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
