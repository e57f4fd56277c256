"""``minicnn.fast.reuse_freed_memory``: after it, a large array freed and allocated again costs no page faults.

Each case runs in a fresh interpreter, because the setting is process-wide and cannot be undone. The count is the
process's minor page faults (``getrusage``) while a 96 MB array is made and written a second time: glibc maps a
fresh region for it by default (96 MB is above the largest mmap threshold, 32 MB), so the kernel faults in every
page again - 24,576 of 4 KB, or about 48 of 2 MB where NumPy's transparent huge pages are granted (49 measured on
an AMD EPYC, Debian 12, glibc 2.36) - and after ``reuse_freed_memory()`` the block freed by the first array is
reused from the heap: no fault at all (0 measured).
"""
import os
import platform
import subprocess
import sys

import pytest

CHILD = """
import resource, sys
import numpy as np
from minicnn.fast import reuse_freed_memory
took = reuse_freed_memory() if sys.argv[1] == "reuse" else None
a = np.ones(24 << 20, dtype=np.float32)  # 96 MB, written: every page touched
del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
b = np.ones(24 << 20, dtype=np.float32)
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc_only = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="mallopt's thresholds are glibc's")


def without_malloc_variables() -> dict:
    """This environment without glibc's malloc variables, so that "default" means glibc's defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}


def faults(mode):
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True,
                         env=without_malloc_variables()).stdout.split()
    return out[0], int(out[1])


@glibc_only
def test_a_freed_block_is_reused_without_page_faults():
    took, default_faults = faults("default")
    assert took == "None" and default_faults >= 40  # a fresh mapping: each of its pages (or huge pages) faulted in
    took, reuse_faults = faults("reuse")
    assert took == "True" and reuse_faults < 8  # the freed block, reused: a handful of faults at most (the heap's edges)


def test_elsewhere_it_does_nothing(monkeypatch):
    from minicnn.fast import allocator

    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    assert allocator.reuse_freed_memory() is False


WORKERS = """
import resource, sys
import numpy as np
from joblib import Parallel, delayed
from minicnn.fast import reuse_freed_memory


def faults():
    a = np.ones(24 << 20, dtype=np.float32)  # as in CHILD, in a joblib worker that this process started
    del a
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    b = np.ones(24 << 20, dtype=np.float32)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


took = reuse_freed_memory(children=True) if sys.argv[1] == "reuse" else None
print(took, *Parallel(n_jobs=2)(delayed(faults)() for _ in range(2)))
"""


@glibc_only
def test_workers_started_after_it_reuse_freed_blocks_from_their_start():
    """reuse_freed_memory(children=True) in the parent; each joblib worker (as femur_app's --jobs makes them)
    reuses the freed block from its start, without calling anything itself (issue 26, item 6)."""
    runs = {mode: subprocess.run([sys.executable, "-c", WORKERS, mode], capture_output=True, text=True, check=True,
                                 env=without_malloc_variables()).stdout.split() for mode in ("default", "reuse")}
    assert runs["default"][0] == "None" and all(int(n) >= 40 for n in runs["default"][1:])
    assert runs["reuse"][0] == "True" and all(int(n) < 8 for n in runs["reuse"][1:])
