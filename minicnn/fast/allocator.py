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
undone for blocks already kept, so it is opt-in: ``femur_app``'s training calls it; a library user calls it at
the start of a training script. Elsewhere than glibc (macOS, Windows, musl) it does nothing and returns False.
"""
from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers, from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
LARGEST = 2**31 - 1  # mallopt takes an int


def reuse_freed_memory() -> bool:
    """Make glibc keep freed blocks of any size for reuse (see the module docstring); True if it took both settings."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)  # the C library the interpreter itself uses
    return bool(libc.mallopt(M_MMAP_THRESHOLD, LARGEST)) and bool(libc.mallopt(M_TRIM_THRESHOLD, LARGEST))


__all__ = ["reuse_freed_memory"]
