"""The CUDA exercise's checker: your kernels compiled by NVRTC and run on the CPU, thread by thread.

    python -m minicnn.exercises start cuda_kernels mywork      # mywork/cuda_kernels.cu
    python -m minicnn.exercises check cuda_kernels --file mywork/cuda_kernels.cu

Your file is CUDA C with two ``extern "C" __global__`` kernels written against ``real_t`` (float or double), as
minicnn's own are (``minicnn/kernels/``): ``relu_bwd`` and ``bn_fwd``, with the parameters the stub gives. The
checks, for each kernel:

1. **NVRTC** compiles it for float and for double, as CuPy would on a GPU (``minicnn.kernels.nvrtc``; where NVRTC
   is not installed this check says so and the emulation still runs);
2. **the CPU emulation of the thread grid** (``minicnn.kernels.emulate``) runs it with minicnn's launch geometry -
   one thread per element, blocks of 256, on sizes that leave the last block part empty - with the outputs
   filled with NaN first, and compares every element with the fast tier's NumPy leaf (``relu_backward_apply``,
   ``bn_forward_apply``). The first wrong element is named with the thread that owns it (``blockIdx.x``,
   ``threadIdx.x``) and, for ``bn_fwd``, its ``(n, c, s)``; the kernel is then run one thread at a time to say
   which thread actually wrote that element (none: a missing write or a bounds check that stops too early;
   another: the index arithmetic is off). The emulator also catches a thread that writes outside an array (a
   missing bounds check) and a write to a ``const`` input.

The emulated kernel runs in a child process, so a kernel that crashes (a wild index) or never ends is reported
instead of taking the checker down. A file with ``#include`` or ``asm`` is refused: the kernels need neither.
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import re
from pathlib import Path

import numpy as np

from minicnn.exercises.checks import CheckFailed, Result, compare

BLOCK = 256
TIMEOUT_S = 120


def _reference_kernels():
    from minicnn.kernels.activations import RELU_BWD
    from minicnn.kernels.batchnorm import BN_FWD

    return {"relu_bwd": RELU_BWD, "bn_fwd": BN_FWD}


def _signature(source: str, name: str):
    from minicnn.kernels import emulate

    return [(p.name, p.dtype.str if p.dtype is not None else "", p.is_pointer, p.is_const)
            for p in emulate.parse_parameters(source, name, np.float64)]


def _without_comments(source: str) -> str:
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", source, flags=re.S)


def static_problems(source: str, path) -> str | None:
    code = _without_comments(source)
    for pattern, what in ((r"#\s*include", "#include"), (r"\basm\b", "asm")):
        match = re.search(pattern, code)
        if match:
            line = code[:match.start()].count("\n") + 1
            return f"{path}:{line}: uses {what}; the kernels need nothing but arithmetic on their arguments"
    for name, kernel in _reference_kernels().items():
        try:
            mine = _signature(source, name)
        except ValueError as error:
            return f"{path}: {error} (keep the stub's kernel names and parameters)"
        if mine != _signature(kernel.source, name):
            params = re.search(r"void\s+" + name + r"\s*\(([^)]*)\)", kernel.source).group(1)
            return (f"{path}: {name} must keep the stub's parameters ({' '.join(params.split())}); "
                    f"the checker launches it with exactly those")
    return None


# --- the runs (in a child process) ------------------------------------------------------------------------------
def _launch(source: str, name: str, dtype, n_threads: int, args, probe_thread=None):
    """Run the kernel on the CPU (all threads, or only ``probe_thread``); return the arrays after the run."""
    from minicnn.kernels import emulate

    real_t = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}[np.dtype(dtype)]
    text = f"typedef {real_t} real_t;\n{source}"
    grid, block = ((n_threads + BLOCK - 1) // BLOCK, 1, 1), (BLOCK, 1, 1)
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    if probe_thread is None:
        emulate.launch(text, name, dtype, grid, block, args)
        return args
    params = emulate.parse_parameters(text, name, dtype)
    probe = (f'\nextern "C" __global__ void {name}_probe({", ".join(p.text for p in params)}, int probe_thread)\n'
             f"{{\n    if ((int)(blockIdx.x * blockDim.x + threadIdx.x) != probe_thread) return;\n"
             f"    {name}({', '.join(p.name for p in params)});\n}}\n")
    emulate.launch(text + probe, f"{name}_probe", dtype, grid, block, args + [np.int32(probe_thread)])
    return args


def _writers(source, name, dtype, n_threads, args, output: int, element: int, limit: int):
    """Which of the first ``limit`` threads write ``element`` of output ``output`` (run one thread at a time)."""
    found = []
    for thread in range(min(limit, n_threads + BLOCK)):
        after = _launch(source, name, dtype, n_threads, args, probe_thread=thread)
        if not np.isnan(after[output].reshape(-1)[element]):
            found.append(thread)
    return found


def _in_child(function, *args):
    """``function(*args)`` in a forked child: a crash or a hang of the emulated kernel becomes a CheckFailed."""
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        future = pool.submit(function, *args)
        try:
            return future.result(timeout=TIMEOUT_S)
        except concurrent.futures.process.BrokenProcessPool:
            raise CheckFailed("the emulated kernel crashed the process (a segmentation fault): a thread read or wrote "
                              "far outside an array - check every index and the bounds check") from None
        except concurrent.futures.TimeoutError:
            for process in pool._processes.values():
                process.kill()
            raise CheckFailed(f"the emulated kernel did not finish within {TIMEOUT_S} s: a loop that never ends?") \
                from None
        except AssertionError as error:  # the emulator's own findings: out-of-bounds writes, const inputs changed
            raise CheckFailed(str(error).replace("emulate: ", "")) from None
        except RuntimeError as error:  # the C++ compiler of the emulation rejected it
            raise CheckFailed(str(error).replace("emulate: ", "").split("\n   1 ")[0]) from None


# --- the cases --------------------------------------------------------------------------------------------------
def _relu_case(dtype):
    rng = np.random.default_rng(90)
    shape = (3, 5, 37)  # 555 elements: 3 blocks of 256, the last one mostly empty
    y = np.maximum(rng.standard_normal(shape), 0).astype(dtype)
    y[0, 0, :5] = 0  # exact zeros: the derivative there is 0
    dy = rng.standard_normal(shape).astype(dtype)
    dx = np.full(shape, np.nan, dtype=dtype)
    from minicnn.fast.activations import relu_backward_apply

    return {"args": [dy, y, dx, np.int32(dy.size)], "outputs": {"dx": 2}, "shape": shape,
            "expected": {"dx": relu_backward_apply(dy, y)}, "n_threads": dy.size, "decode": None}


def _bn_case(dtype):
    rng = np.random.default_rng(91)
    N, C, H, W = 3, 5, 6, 7  # 630 elements, S = 42
    x = (rng.standard_normal((N, C, H, W)) * 2 + 1).astype(dtype)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    inv_std = (1 / np.sqrt(var + 1e-5)).astype(dtype)
    gamma = rng.uniform(0.5, 2, C).astype(dtype) * np.where(np.arange(C) % 2, -1, 1).astype(dtype)
    beta = rng.standard_normal(C).astype(dtype)
    x_hat, y = np.full(x.shape, np.nan, dtype=dtype), np.full(x.shape, np.nan, dtype=dtype)
    from minicnn.fast.batchnorm import bn_forward_apply

    expected_x_hat, expected_y = bn_forward_apply(x, mean.astype(dtype), inv_std, gamma, beta)
    S = H * W

    def decode(index):
        return f"(n, c, s) = ({index // (C * S)}, {(index // S) % C}, {index % S}), since index = (n*C + c)*S + s"

    return {"args": [x, mean.astype(dtype), inv_std, gamma, beta, x_hat, y, np.int32(x.size), np.int32(C),
                     np.int32(S)],
            "outputs": {"x_hat": 5, "y": 6}, "shape": x.shape, "expected": {"x_hat": expected_x_hat, "y": expected_y},
            "n_threads": x.size, "decode": decode}


CASES = {"relu_bwd": _relu_case, "bn_fwd": _bn_case}


def _emulated(source: str, name: str, dtype) -> str:
    case = CASES[name](dtype)
    after = _in_child(_launch, source, name, dtype, case["n_threads"], case["args"])
    lines = []
    tolerance = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-12}[np.dtype(dtype)]
    for output, position in case["outputs"].items():
        got, expected = after[position], case["expected"][output]
        wrong = np.flatnonzero(~np.isclose(got.reshape(-1), expected.reshape(-1), rtol=tolerance, atol=tolerance))
        if len(wrong):
            index = int(wrong[0])
            block, thread = divmod(index, BLOCK)
            value = got.reshape(-1)[index]
            what = "nothing (still the NaN it was filled with)" if np.isnan(value) else f"{value:.6g}"
            writers = _in_child(_writers, source, name, dtype, case["n_threads"], case["args"], position, index,
                                min(case["n_threads"] + BLOCK, 2048))
            if not writers:
                who = "no thread wrote it: a missing write, or a bounds check that stops too early"
            elif writers == [index]:
                who = "its own thread wrote it, with the wrong value: the arithmetic, or what the thread reads"
            else:
                who = (f"it was written by thread{'s' if len(writers) > 1 else ''} "
                       f"{', '.join(str(w) for w in writers[:4])} (flat index blockIdx.x * blockDim.x + threadIdx.x)"
                       f"{' - several threads writing one element is a race on a GPU' if len(writers) > 1 else ''}: "
                       f"the index arithmetic is off")
            decoded = f"; {case['decode'](index)}" if case["decode"] else ""
            raise CheckFailed(
                f"{output} is wrong in {len(wrong)} of {got.size} elements; the first is element {index} "
                f"(thread blockIdx.x = {block}, threadIdx.x = {thread}{decoded}): got {what}, expected "
                f"{expected.reshape(-1)[index]:.6g}; {who}")
        lines.append(compare(output, got.reshape(case["shape"]), expected, rtol=tolerance, atol=tolerance))
    return "; ".join(lines)


def _nvrtc(source: str, name: str, dtype) -> str:
    from minicnn.kernels import nvrtc

    real_t = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}[np.dtype(dtype)]
    try:
        ptx, log = nvrtc.compile_ptx(f"typedef {real_t} real_t;\n{source}", name)
    except nvrtc.NvrtcUnavailable as error:
        return f"not compiled: NVRTC is not available here ({error}); the emulation below still runs the kernel"
    except nvrtc.CompileError as error:  # the log names the line; the whole file is compiled for every kernel
        raise CheckFailed(str(error)[:3000]) from None
    return f"NVRTC compiled it ({len(ptx)} characters of PTX){'; log: ' + log if log else ''}"


def checks(source: str):
    for name in ("relu_bwd", "bn_fwd"):
        for dtype in (np.float64, np.float32):
            real = "double" if dtype is np.float64 else "float"
            yield f"{name}, real_t = {real}: NVRTC compiles it", lambda name=name, dtype=dtype: _nvrtc(source, name,
                                                                                                        dtype)
            yield (f"{name}, real_t = {real}: emulated grid against the fast tier's "
                   f"{'relu_backward_apply' if name == 'relu_bwd' else 'bn_forward_apply'}",
                   lambda name=name, dtype=dtype: _emulated(source, name, dtype))


def check_file(path) -> list[Result]:
    """Every check of the CUDA exercise on the .cu file at ``path``."""
    path = Path(path)
    if not path.is_file():
        return [Result("import", False, f"{path}: no such file")]
    source = path.read_text(encoding="utf-8")
    problem = static_problems(source, path)
    if problem:
        return [Result("what the file uses", False, f"refused: {problem}")]
    results = []
    for description, check in checks(source):
        try:
            results.append(Result(description, True, check() or "ok"))
        except CheckFailed as error:
            results.append(Result(description, False, str(error), error.hint))
    return results
