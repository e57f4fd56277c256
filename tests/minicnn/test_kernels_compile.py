"""Every CUDA kernel compiles with NVRTC (no GPU needed), float32 and float64, and its PTX keeps the rules.

Skipped when CuPy's NVRTC binding or libnvrtc is missing - but a failure instead when MINICNN_REQUIRE_NVRTC=1,
which CI (.ci/run) sets after installing cupy-cuda12x and nvidia-cuda-nvrtc-cu12.
"""
import os
import re

import numpy as np
import pytest

from minicnn.kernel_checks.registry import REGISTRY
from minicnn.kernels.core import DTYPES, CudaKernel


@pytest.fixture(scope="module")
def nvrtc():
    from minicnn.kernels import nvrtc

    try:
        nvrtc.load()
    except nvrtc.NvrtcUnavailable as error:
        if os.environ.get("MINICNN_REQUIRE_NVRTC") == "1":
            pytest.fail(f"MINICNN_REQUIRE_NVRTC=1 but NVRTC is unavailable: {error}")
        pytest.skip(f"NVRTC unavailable: {error}")
    return nvrtc


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(REGISTRY))
def test_kernel_compiles_and_keeps_the_rules(nvrtc, name, dtype):
    kernel = REGISTRY[name].kernel
    ptx, log = nvrtc.compile_ptx(kernel.source_for(dtype), kernel.name)
    assert re.search(rf"\.visible \.entry {kernel.name}\(", ptx), "extern \"C\" keeps the name unmangled"
    assert "warning" not in log.lower(), log
    assert "atom." not in ptx and "red." not in ptx, "no atomics: every thread writes only its own outputs"
    assert ".shared" not in ptx and "bar.sync" not in ptx, "no shared memory, no barriers"
    assert "fma.rn" not in ptx, "compiled without contraction (--fmad=false), as the emulator is"
    if np.dtype(dtype) == np.float32:
        assert ".f64" not in ptx, "a float32 kernel does no double arithmetic (a 1.0 literal instead of (real_t)1?)"
    else:
        assert ".f64" in ptx or name in ("im2col", "relu_forward_apply"), "the float64 variant computes in double"


def test_a_broken_kernel_fails_with_nvrtc_log(nvrtc):
    broken = CudaKernel("broken", 'extern "C" __global__ void broken(real_t* y) { y[0] = undefined_name; }')
    with pytest.raises(nvrtc.CompileError, match="undefined_name"):
        nvrtc.compile_ptx(broken.source_for(np.float32), broken.name)


def test_a_float_literal_would_be_caught(nvrtc):
    """The .f64 rule above can fail: ``x * 0.1`` computes in double (0.1 is no float)."""
    sloppy = CudaKernel("tenth", 'extern "C" __global__ void tenth(real_t* y) { y[0] = y[0] * 0.1; }')
    ptx, _ = nvrtc.compile_ptx(sloppy.source_for(np.float32), sloppy.name)
    assert ".f64" in ptx


def test_selfcheck_compile_only_prints_one_line_per_kernel(nvrtc, capsys):
    from minicnn.selfcheck import main

    assert main(["--compile-only"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in REGISTRY:
        for dtype in DTYPES:
            assert sum(line.startswith(name + " ") and np.dtype(dtype).name in line and " ok " in line
                       for line in lines) == 1, (name, dtype, lines)
    assert lines[-1] == "all ok"
