"""The fast tier's own threads: independent blocks of work run side by side, each with a single-threaded BLAS.

Why not let the BLAS thread each GEMM? On a machine whose cores are shared with other jobs, OpenBLAS's threaded
GEMM waits at a barrier for every one of its threads, and one thread descheduled stalls the call; its idle
threads also spin between calls, taking a core from the element-wise NumPy passes in between. Measured on a
2-core Xeon shared with other jobs (docs/performance.md), a training step with a 2-thread BLAS took 2-3.5x as
long as with a 1-thread one. Here each thread takes whole blocks (im2col, GEMM and col2im of a few samples of a
convolution; a share of a linear layer's output features) and nobody waits until the layer is done, and NumPy
releases the GIL in its copies and GEMMs, so two blocks really do run at once. The memory-bound passes (batch
norm, the SGD update) were measured no faster on two threads (0.98-1.05x) and stay on one.

How many threads: ``set_threads(n)`` if called, otherwise the BLAS library's current limit as threadpoolctl
reports it, so ``threadpoolctl.threadpool_limits(1)`` (femur_app's ``run.blas_threads``) makes the fast tier
single-threaded too, and folds trained in parallel do not oversubscribe the cores. With one thread, or on the
GPU, ``run_blocks`` is a plain loop.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, wait

from threadpoolctl import ThreadpoolController

_override = None  # set_threads(n); None: follow the BLAS limit
_controller = None  # threadpoolctl's controller of the libraries loaded, made once
_pools = {}  # thread count -> its ThreadPoolExecutor
_pool_lock = threading.Lock()


def set_threads(n):
    """Use ``n`` threads in the fast tier from now on (``None``: follow the BLAS library's limit again)."""
    global _override
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(f"minicnn.fast.set_threads: expected a whole number >= 1 or None, got {n!r}")
    _override = n


def _blas_controller():
    global _controller
    if _controller is None:
        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


def get_threads():
    """The number of threads the fast tier uses now: ``set_threads``'s, else the BLAS library's current limit."""
    if _override is not None:
        return _override
    return max([lib.num_threads for lib in _blas_controller().lib_controllers] or [1])


def _executor(n):
    """The pool of exactly ``n`` threads, made on first use."""
    with _pool_lock:
        if n not in _pools:
            _pools[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix=f"minicnn{n}")
        return _pools[n]


def run_blocks(fn, blocks, threads=None):
    """``[fn(block) for block in blocks]``, the blocks shared among ``threads`` (default ``get_threads()``) threads,
    with the BLAS single-threaded meanwhile (the BLAS limit is process-wide: other threads' GEMMs run on one
    thread too until the blocks are done). ``fn`` must only write what its own block owns. Results in order; the
    first block's exception is raised after every block has finished."""
    blocks = list(blocks)
    n = min(len(blocks), get_threads() if threads is None else threads)
    if n <= 1:
        return [fn(block) for block in blocks]
    with _blas_controller().limit(limits=1):
        futures = [_executor(n).submit(fn, block) for block in blocks]
        wait(futures)  # every block, even after a failure: none is left running once this returns
    return [future.result() for future in futures]


def even_blocks(N, step, threads=None):
    """Slices of range(N) of at most ``step`` items, as many as a multiple of the thread count where that costs
    no more than shrinking the blocks, and of equal size, so that the threads finish together."""
    n_threads = get_threads() if threads is None else threads
    count = -(-N // max(1, step))
    if n_threads > 1 and N >= n_threads:
        count = -(-count // n_threads) * n_threads
    size = -(-N // count)
    return [slice(start, min(N, start + size)) for start in range(0, N, size)]


__all__ = ["even_blocks", "get_threads", "run_blocks", "set_threads"]
