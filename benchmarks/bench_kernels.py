"""pytest-benchmark cases for every GPU op, on both backends, at its AlexNet-BN size.

    pytest benchmarks/ -k bench_kernels --benchmark-group-by=group     # one table per op: numpy beside cupy
    pytest benchmarks/ -k bench_kernels --bench-size tiny              # batch 2 instead of 32

``numpy`` times the NumPy leaf on the CPU; ``cupy`` times the CUDA kernel's launcher on the GPU (synchronised,
so the time is the kernel's and not just its launch), and is skipped without a GPU. The inputs come from
``minicnn.kernel_checks.cases``, the same as the tests', at the sizes ``minicnn.kernel_checks.registry.REGISTRY``
gives each op in AlexNet-BN; the batch is the ``--bench-size`` one (benchmarks/conftest.py).
"""
import numpy as np
import pytest

from minicnn import backend
from minicnn.kernel_checks.registry import REGISTRY


def _gpu():
    try:
        return backend.cupy_module()
    except backend.GPUUnavailableError as error:
        pytest.skip(f"no GPU: {error}")


@pytest.mark.parametrize("device", ["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
@pytest.mark.parametrize("name", list(REGISTRY))
def test_kernel(benchmark, size, name, device):
    entry = REGISTRY[name]
    args = entry.case(np.random.default_rng(0), np.float32, **{**entry.alexnet, "N": size.batch})
    benchmark.group = name
    benchmark.extra_info["first input"] = next(str(a.shape) for a in args if isinstance(a, np.ndarray))
    if device == "numpy":
        benchmark(entry.reference, *args)
        return
    cupy = _gpu()
    device_args = [backend.to_gpu(a) if isinstance(a, (np.ndarray, np.generic)) else a for a in args]

    def launch_and_wait():
        out = entry.launcher(*device_args)
        cupy.cuda.Device().synchronize()
        return out

    launch_and_wait()  # compile the kernel (NVRTC, cached) before timing
    benchmark(launch_and_wait)
