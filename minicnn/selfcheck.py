"""Check minicnn's CUDA kernels on this machine, and print a table.

    python -m minicnn.selfcheck                 on a GPU: every kernel against its NumPy reference on the GPU,
                                                then one training step of a small network on both devices
    python -m minicnn.selfcheck --compile-only  no GPU needed: compile every kernel with NVRTC (float32 and
                                                float64), one line per kernel
    python -m minicnn.selfcheck --emulate       no GPU needed: run every kernel's CUDA source on the CPU under
                                                the sequential emulation of the thread grid (needs g++)

The exit status is 0 only if every line says ok (2 if the GPU or NVRTC is not there at all).
"""
from __future__ import annotations

import argparse
import copy
import sys

import numpy as np

from minicnn import backend
from minicnn.kernel_checks import check
from minicnn.kernel_checks.registry import REGISTRY
from minicnn.kernels import nvrtc
from minicnn.kernels.core import DTYPES
from minicnn.layers import BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential
from minicnn.optim import SGD
from minicnn.step import train_step


def _first_shape(args) -> str:
    return next((str(tuple(a.shape)) for a in args if isinstance(a, np.ndarray)), "")


def check_kernels(device: str, N: int, seed: int = 0) -> list[tuple]:
    """One row per (kernel, dtype): the AlexNet-BN sizes of the op at batch N, run on ``device``."""
    rows = []
    for name, entry in REGISTRY.items():
        for dtype in DTYPES:
            args = entry.case(np.random.default_rng(seed), dtype, **{**entry.alexnet, "N": N})
            try:
                ok, worst = check.check(entry, args, device)
                status = ("ok" if ok else "FAIL") + (" (exact)" if worst == 0.0 else "")
            except Exception as error:  # report every kernel, even after one fails
                ok, worst, status = False, float("nan"), f"ERROR {type(error).__name__}: {error}"
            rows.append((name, np.dtype(dtype).name, device, _first_shape(args), f"{worst:.3g}", status, ok))
    return rows


def small_network(seed: int, dtype):
    """Every layer that has a kernel, at a size that runs anywhere: (N, 3, 29, 29) -> 2 classes.

    The convolutions before batch norm have no bias: batch norm removes it, so its gradient is zero up to
    rounding, and comparing rounding noise between devices says nothing.
    """
    rng = np.random.default_rng(seed)
    model = Sequential(
        Conv2d(3, 8, 5, stride=2, padding=2, bias=False, rng=rng), BatchNorm2d(8), ReLU(), MaxPool2d(3, 2),  # 15 -> 7
        Conv2d(8, 16, 3, padding=1, bias=False, rng=rng, l2=1e-4), BatchNorm2d(16), ReLU(), MaxPool2d(3, 2),  # 7 -> 3
        Flatten(), Linear(16 * 3 * 3, 32, rng=rng), ReLU(), Dropout(0.5, rng=np.random.default_rng(seed + 1)),
        Linear(32, 2, rng=rng),
    )
    return model.astype(dtype)


def one_step(model, x, labels, class_weights) -> float:
    """One training step (``minicnn.train_step``) with SGD at lr 0.01, momentum 0.9; returns the loss."""
    return train_step(model, SGD(model, lr=0.01, momentum=0.9), x, labels, class_weights).loss


def relative_errors(reference, model, reference_loss, loss) -> dict[str, float]:
    """``||model - reference|| / ||reference||`` for the loss, every parameter, buffer and gradient."""
    def error(a, b):
        a, b = backend.to_cpu(a), backend.to_cpu(b)
        return float(np.linalg.norm(np.asarray(b, np.float64) - a) / max(float(np.linalg.norm(a)), 1e-30))

    errors = {"loss": error(np.array(reference_loss), np.array(loss))}
    state = model.state_dict()
    for key, value in reference.state_dict().items():
        errors[key] = error(value, state[key])
    for (path, layer), (_, twin) in zip(reference.named_layers(), model.named_layers()):
        for key, grad in layer.grads.items():
            errors[f"{path}.grad.{key}" if path else f"grad.{key}"] = error(grad, twin.grads[key])
    return errors


def compare_train_step(dtype, seed: int = 0, N: int = 6) -> dict[str, float]:
    """One training step on the CPU and on the GPU from the same seed: ``relative_errors`` of the GPU's.

    The kernels agree with the NumPy leaves to rounding, and cuBLAS may sum a GEMM in another order than BLAS.
    """
    rng = np.random.default_rng(seed + 2)
    x = rng.standard_normal((N, 3, 29, 29)).astype(dtype)
    labels = rng.integers(0, 2, N)
    class_weights = np.array([1.0, 2.0])
    cpu = small_network(seed, dtype)
    gpu = backend.to_gpu(copy.deepcopy(cpu))  # deepcopy keeps the dropout Generator's state: same masks
    cpu_loss = one_step(cpu, x, labels, class_weights)
    gpu_loss = one_step(gpu, backend.to_gpu(x), backend.to_gpu(labels), class_weights)
    return relative_errors(cpu, gpu, cpu_loss, gpu_loss)


TRAIN_TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}


def check_train_step() -> list[tuple]:
    """One row per dtype: the worst relative error of ``compare_train_step``."""
    rows = []
    for dtype in DTYPES:
        try:
            errors = compare_train_step(dtype)
            worst_key = max(errors, key=errors.get)
            ok = errors[worst_key] <= TRAIN_TOLERANCE[dtype]
            status = ("ok" if ok else "FAIL") + f" (worst: {worst_key})"
            worst = f"{errors[worst_key]:.3g}"
        except Exception as error:
            ok, worst, status = False, "nan", f"ERROR {type(error).__name__}: {error}"
        rows.append(("train step", dtype.name, "cpu vs gpu", "(6, 3, 29, 29)", worst, status, ok))
    return rows


def compile_all(arch: str) -> list[tuple]:
    """One row per (kernel, dtype): NVRTC's verdict."""
    rows = []
    for name, entry in REGISTRY.items():
        for dtype in DTYPES:
            try:
                ptx, log = nvrtc.compile_ptx(entry.kernel.source_for(dtype), entry.kernel.name, arch)
                ok, status = True, f"ok ({len(ptx)} bytes of PTX{', log: ' + log if log else ''})"
            except nvrtc.CompileError as error:
                ok, status = False, f"FAIL {error}"
            rows.append((name, np.dtype(dtype).name, entry.kernel.name, arch, status, ok))
    return rows


HEADER = ("check", "dtype", "device", "first input", "max |diff|", "result")


def _print(header, rows) -> bool:
    """Print ``rows`` (the last item of each is its ok flag, not printed) under ``header``; True if all ok."""
    cells = [header] + [row[:-1] for row in rows]
    widths = [max(len(str(cell[i])) for cell in cells) for i in range(len(header) - 1)]
    for cell in cells:
        print("  ".join(str(c).ljust(w) for c, w in zip(cell, widths)) + "  " + str(cell[-1]))
    return all(row[-1] for row in rows)


class _OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line with status 2, like selfcheck's other errors."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def main(argv=None) -> int:
    parser = _OneLineParser(prog="python -m minicnn.selfcheck", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--compile-only", action="store_true", help="compile every kernel with NVRTC; no GPU needed")
    mode.add_argument("--emulate", action="store_true", help="run every kernel on the CPU under the emulator")
    parser.add_argument("--arch", default=None, help="NVRTC virtual architecture for --compile-only "
                                                     "(default compute_75)")
    parser.add_argument("--batch", type=int, default=None, help="batch size N of the kernel checks "
                                                                "(default 8 on the GPU, 1 emulated)")
    args = parser.parse_args(argv)

    if args.compile_only:
        try:
            _, version, where = nvrtc.load()
        except nvrtc.NvrtcUnavailable as error:
            print(f"error: selfcheck --compile-only: {error}", file=sys.stderr)
            return 2
        arch = args.arch or nvrtc.DEFAULT_ARCH
        print(f"NVRTC {version[0]}.{version[1]} from {where or 'CuPy default search path'}")
        ok = _print(("kernel", "dtype", "CUDA function", "arch", "result"), compile_all(arch))
    elif args.emulate:
        print("CPU emulation of the CUDA thread grid against the NumPy references")
        ok = _print(HEADER, check_kernels("emulator", args.batch or 1))
    else:
        try:
            cupy = backend.cupy_module()
        except backend.GPUUnavailableError as error:
            print(f"error: selfcheck: {error} (without a GPU: --compile-only or --emulate)", file=sys.stderr)
            return 2
        print(f"CuPy {cupy.__version__} on {cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}")
        ok = _print(HEADER, check_kernels("gpu", args.batch or 8) + check_train_step())
    print("all ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
