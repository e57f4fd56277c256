"""What it costs to write memory the process has just been given, in fresh processes one after the other.

    python benchmarks/first_touch.py --mb 1024 --processes 3

Each process asks NumPy for ``--mb`` MB (``np.ones``: every page written once) and reports the seconds it took,
its page faults and its kernel (system) time. On a physical machine the cost is the kernel zeroing each new page,
and every process takes about as long as the others. In a virtual machine whose host backs the
guest's memory lazily, the first process that touches guest memory nobody has used since the guest booted makes
the host find and zero real memory as well, and can take many times longer; the next processes are usually handed
the pages the first one freed, which are backed by then, and run at the normal speed. Which pages a process gets
is the guest kernel's choice, so a run of this script can only show the effect, not predict it.

Why it matters: a benchmark that allocates more than any earlier step did (a larger batch, a fresh process) pays
this once, and a best-of-few timing does not always hide it. ``docs/performance.md`` reports what it measured.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import numpy as np


def worker(megabytes: int) -> dict:
    """Runs in the subprocess: write ``megabytes`` MB once, timed."""
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    array = np.ones(megabytes << 18, dtype=np.float32)  # 2**18 float32 = 1 MB
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    if array[-1] != 1.0:
        raise SystemExit("np.ones wrote something else")
    return {"seconds": seconds, "faults": after.ru_minflt - before.ru_minflt,
            "kernel": after.ru_stime - before.ru_stime}


def lscpu(field: str, missing: str) -> str:
    """The value lscpu prints for ``field`` ('Model name', 'Hypervisor vendor'), or ``missing``."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return missing
    lines = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith(field + ":")]
    return lines[0] if lines else missing


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=1024, help="megabytes each process writes (default 1024)")
    parser.add_argument("--processes", type=int, default=3, help="fresh processes, one after the other (default 3)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(args.worker)))
        return 0
    if args.mb < 1 or args.processes < 1:
        parser.error("--mb and --processes must be at least 1")
    print(f"machine: {lscpu('Model name', platform.machine())}, hypervisor: {lscpu('Hypervisor vendor', 'none')}; "
          f"{args.processes} fresh processes, each writing {args.mb} MB once (np.ones)")
    for index in range(1, args.processes + 1):
        out = subprocess.run([sys.executable, __file__, "--worker", str(args.mb)],
                             capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"process {index}: {r['seconds']:.3f} s ({r['seconds'] * 1024 / args.mb:.2f} s per GB), "
              f"{r['faults']} page faults, kernel time {r['kernel']:.3f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
