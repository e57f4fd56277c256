"""AlexNet-BN's fully connected layers at batch 32: one BLAS thread, two BLAS threads, or the fast tier's two
threads with one BLAS thread each (its default when two threads are allowed), timed side by side.

    python benchmarks/fc_threads.py --repeat 30 --out docs/figures/fc_threads.json   # the paper's network
    python benchmarks/fc_threads.py --size quick --repeat 30                         # the quick profile's
    python benchmarks/fc_threads.py --size tiny --repeat 2      # seconds (tests/test_benchmarks_run.py)

At batch 32 the fully connected products are thin (32 x 9216 times 9216 x 4096 for fc6): OpenBLAS's threaded
GEMM splits such a product and waits for both threads at the end of every call. The three ways, for each layer's
forward (y = x w^T) and backward (dw = dy^T x, dx = dy w), through ``minicnn.fast.linear``:

    one_blas_thread      one GEMM, BLAS limited to 1 thread (what the fast tier does with set_threads(1))
    two_blas_threads     one GEMM, BLAS on 2 threads (the fast tier's threads off: set_threads(1))
    two_tier_threads     the output features split between the fast tier's 2 threads, 1 BLAS thread each
                         (the default on 2 cores; layers under 2^20 weights, like fc8, stay one GEMM)

The ways take turns inside each repeat and each time is the best of ``--repeat``, so other work on the machine
slows them alike; the record keeps the load average, the processor and threadpoolctl's view of the BLAS.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from minicnn import fast
from minicnn.fast import blas
from minicnn.fast.linear import linear_backward_into, linear_forward

SIZES = {"full": {"batch": 32, "layers": {"fc6": (9216, 4096), "fc7": (4096, 4096), "fc8": (4096, 2)}},
         "quick": {"batch": 32, "layers": {"fc6": (256, 1024), "fc7": (1024, 1024), "fc8": (1024, 2)}},  # 96 px, x0.25
         "tiny": {"batch": 4, "layers": {"fc6": (64, 32), "fc8": (32, 2)}}}
WAYS = {"one_blas_thread": (1, 1), "two_blas_threads": (2, 1), "two_tier_threads": (2, 2)}  # (BLAS, tier threads)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor()


def time_layer(batch: int, n_in: int, n_out: int, repeat: int, rng) -> dict:
    """{way: {"forward": best s, "backward": best s}} for one layer."""
    x = rng.standard_normal((batch, n_in), dtype=np.float32)
    w = rng.standard_normal((n_out, n_in), dtype=np.float32) * 0.01
    b = np.zeros(n_out, dtype=np.float32)
    dy = rng.standard_normal((batch, n_out), dtype=np.float32)
    dw = np.empty_like(w)
    best = {way: {"forward": float("inf"), "backward": float("inf")} for way in WAYS}
    for _ in range(repeat):
        for way, (blas_threads, tier_threads) in WAYS.items():
            with threadpool_limits(limits=blas_threads, user_api="blas"):
                fast.set_threads(tier_threads)
                try:
                    started = time.perf_counter()
                    _, cache = linear_forward(x, w, b)
                    forward = time.perf_counter() - started
                    started = time.perf_counter()
                    linear_backward_into(dw, dy, cache)
                    backward = time.perf_counter() - started
                finally:
                    fast.set_threads(None)
            best[way]["forward"] = min(best[way]["forward"], forward)
            best[way]["backward"] = min(best[way]["backward"], backward)
    return best


def markdown_table(record: dict) -> str:
    """The record as docs/performance.md shows it (tests/test_benchmarks_run.py checks that the page holds it)."""
    rows = ["| layer (batch %d) | pass | one BLAS thread | two BLAS threads | two tier threads, one BLAS thread each |"
            % record["batch"], "| --- | --- | --- | --- | --- |"]
    for name, layer in record["layers"].items():
        for phase in ("forward", "backward"):
            rows.append(f"| {name} {layer['in']} -> {layer['out']} | {phase} | "
                        + " | ".join(f"{1e3 * layer[way][phase]:.2f} ms" for way in WAYS) + " |")
    return "\n".join(rows)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--out", type=Path, help="write the record (JSON) here")
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    rng = np.random.default_rng(0)
    with threadpool_limits(limits=2, user_api="blas"):
        kernels = blas.describe()
    record = {"command": " ".join(["python benchmarks/fc_threads.py", *(sys.argv[1:] if argv is None else argv)]),
              "cpu": cpu_model(), "cores": os.cpu_count(), "blas": kernels, "numpy": np.__version__,
              "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"), "batch": size["batch"],
              "repeat": args.repeat, "load_before": os.getloadavg()[0], "layers": {}}
    print(f"cpu: {record['cpu']}, {record['cores']} cores; BLAS: {kernels}; load average {record['load_before']:.1f}")
    print(f"{'layer':6s} {'pass':9s} " + " ".join(f"{way:>17s}" for way in WAYS) + "  (best ms)")
    for name, (n_in, n_out) in size["layers"].items():
        best = time_layer(size["batch"], n_in, n_out, args.repeat, rng)
        record["layers"][name] = {"in": n_in, "out": n_out, **best}
        for phase in ("forward", "backward"):
            print(f"{name:6s} {phase:9s} " + " ".join(f"{1e3 * best[way][phase]:17.2f}" for way in WAYS))
    record["load_after"] = os.getloadavg()[0]
    print(f"load average after: {record['load_after']:.1f}\n\n{markdown_table(record)}")
    if args.out:
        args.out.write_text(json.dumps(record, indent=2) + "\n")
    return record


if __name__ == "__main__":
    main()
