"""Fresh memory is slow memory: keep freed blocks in the process for the next step (glibc's malloc, opt-in).

A training step allocates and frees the same few hundred MB every step - activations, caches, the backward's
temporaries - in arrays of up to tens of MB. glibc's ``malloc`` serves every block larger than its *mmap threshold*
with pages freshly mapped from the kernel and hands them back with ``munmap`` when the block is freed; the
threshold adapts to the blocks freed but never exceeds 32 MB, and the top of the heap is given back too once more
than twice the threshold is free. Fresh pages are not free: the kernel takes a page fault on the first write to
each and fills it with zeros, so every step pays to clear memory it is about to overwrite anyway.

``reuse_freed_memory()`` raises both thresholds (``mallopt(M_MMAP_THRESHOLD)`` and ``mallopt(M_TRIM_THRESHOLD)``)
to their largest value: every block then comes from the heap, a freed block stays there, and the next step's
arrays reuse it without a fault. Measured on AlexNet-BN at batch 32 (``benchmarks/allocator_ab.py``,
docs/performance.md): the kernel time of a step falls from about 0.3 s to 0.01 s and the step takes 0.80-0.89x
the time; the price is a higher high-water mark of resident memory, because the heap keeps
what it once held and cannot always fit a large block into the holes the smaller ones left.

It changes the whole process's allocator, PyTorch's allocations in the same process included, and cannot be
undone for blocks already kept, so it is opt-in: ``femur_app``'s commands call it once, at their start; a
library user calls it at the start of a training script. Elsewhere than glibc (macOS, Windows, musl) it does
nothing and returns False.

Worker processes. ``mallopt`` reaches only the calling process, and calling it inside a worker would change, for
good, the allocator of a process that a pool may lend to other work later. ``reuse_freed_memory(children=True)``
also puts glibc's own variables for the two thresholds (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``:
``ENVIRONMENT``) into this process's environment, which the processes it starts from then on inherit and glibc
reads once, when each starts: femur_app's joblib workers (created by the command, after the call) thus run with
the same setting from their first allocation, and nothing changes a running process. Workers that already
existed (a pool reused from before the call) and those of a Dask cluster, which are not our children, keep
their own settings.
"""
from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers, from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
LARGEST = 2**31 - 1  # mallopt takes an int
ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": str(LARGEST), "MALLOC_TRIM_THRESHOLD_": str(LARGEST)}  # the same, at start


def reuse_freed_memory(children: bool = False) -> bool:
    """Make glibc keep freed blocks of any size for reuse (see the module docstring); True if it took both settings.
    ``children``: the processes started from now on inherit the setting too (``ENVIRONMENT``)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if children:
        os.environ.update(ENVIRONMENT)
    libc = ctypes.CDLL(None)  # the C library the interpreter itself uses
    return bool(libc.mallopt(M_MMAP_THRESHOLD, LARGEST)) and bool(libc.mallopt(M_TRIM_THRESHOLD, LARGEST))


__all__ = ["reuse_freed_memory"]
