"""minicnn against PyTorch and numpy-ml on AlexNet-BN, in one process, on the same inputs and weights.

    python benchmarks/compare.py                 # every layer, the training step, peak memory (a few minutes)
    python benchmarks/compare.py --layers conv2,bn2 --no-step --no-memory
    python benchmarks/compare.py --profile        # where one minicnn training step spends its time
    python benchmarks/compare.py --gemm           # GEMM rates and the step's GEMM floor
    python benchmarks/compare.py --reuse-freed-memory   # glibc keeps freed blocks, as femur_app trains (both frameworks)

minicnn runs on its fast tier (``minicnn.fast``, the default) everywhere; the training step is also timed on its
plain tier (``minicnn.plain``: the algorithms as written, for reading), on the same model, taking turns.

Times are the best of ``--repeat`` runs; the frameworks take turns inside each repeat, so a busy machine slows
all of them alike and the ratios stay meaningful even when the absolute times do not. PyTorch runs on
``torch.set_num_threads(2)``; PyTorch and numpy-ml are optional and skipped with a note when missing.

Peak memory is the high-water mark of resident memory (VmHWM in /proc/self/status) of a fresh subprocess per
framework that builds the network and runs ``--memory-steps`` training steps - BLAS and PyTorch allocate
outside Python, so tracemalloc would miss most of it.
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

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # appended, so a PYTHONPATH pointing at another minicnn still wins

import minicnn  # noqa: E402
from benchmarks import alexnet  # noqa: E402
from minicnn import softmax_cross_entropy, train_step  # noqa: E402

SIZES = {"full": alexnet.FULL, "tiny": alexnet.TINY}
FRAMEWORKS = ("minicnn", "torch", "numpy-ml")
NUMPY_ML_SKIPPED = {"pool1", "pool2", "pool5"}  # a Python loop per output value: minutes per call at this size


def best_of(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def interleaved(fns: dict, repeat: int) -> dict:
    """Best time of each callable, the callables taking turns so that machine noise hits them alike."""
    best = {key: float("inf") for key in fns}
    for _ in range(repeat):
        for key, fn in fns.items():
            best[key] = min(best[key], best_of(fn, 1))
    return best


def try_import_torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    return torch


# --- per-layer forward and backward ------------------------------------------------------------------------------
def compare_layers(size, names, repeat, torch, nml):
    cases = alexnet.layer_cases(size)
    rows = []
    for name in names:
        fns = {}
        for framework in FRAMEWORKS:
            if (framework == "torch" and torch is None) or (framework == "numpy-ml" and nml is None):
                continue
            if framework == "numpy-ml" and name in NUMPY_ML_SKIPPED:
                continue
            calls = alexnet.layer_calls(cases[name], framework)
            if calls is not None:
                fns[framework] = calls
        fwd = interleaved({k: f for k, (f, _) in fns.items()}, repeat)
        for k, (f, _) in fns.items():  # refresh every cache after the timed forwards
            f()
        bwd = interleaved({k: b for k, (_, b) in fns.items() if b is not None}, repeat)
        rows.append((name, fwd, bwd))
        print(_layer_row(name, fwd, bwd), flush=True)
    return rows


def _ms(t):
    return "-" if t is None else f"{t * 1e3:8.1f}"


def _ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:5.2f}x"


LAYER_HEADER = (f"{'layer':7s} | {'minicnn fwd':>11s} {'bwd':>8s} | {'torch fwd':>9s} {'bwd':>8s} | "
                f"{'numpy-ml fwd':>12s} {'bwd':>8s} | {'mc/torch f+b':>12s} | {'nml/mc f+b':>10s}")


def _layer_row(name, fwd, bwd):
    def total(fw):
        return fwd[fw] + bwd[fw] if fw in fwd and fw in bwd else None

    mc = total("minicnn")
    return (f"{name:7s} | {_ms(fwd.get('minicnn')):>11s} {_ms(bwd.get('minicnn')):>8s} | "
            f"{_ms(fwd.get('torch')):>9s} {_ms(bwd.get('torch')):>8s} | "
            f"{_ms(fwd.get('numpy-ml')):>12s} {_ms(bwd.get('numpy-ml')):>8s} | "
            f"{_ratio(mc, total('torch')):>12s} | {_ratio(total('numpy-ml'), mc):>10s}")


# --- the training step -------------------------------------------------------------------------------------------
def on_plain_tier(fn):
    """``fn`` run with every layer on minicnn's plain tier (``minicnn.plain``) instead of the fast one."""
    def run():
        with minicnn.tier("plain"):
            return fn()

    return run


def compare_step(size, repeat, torch):
    """Best time of one training step: minicnn's fast tier (the default), its plain tier, and PyTorch."""
    x, labels = alexnet.batch(size)
    losses = []

    def model_and_step():  # a model of its own per tier: one model taking every step would diverge sooner
        model = alexnet.build_minicnn(size)
        optimizer = alexnet.minicnn_optimizer(model)
        return model, lambda: losses.append(train_step(model, optimizer, x, labels).loss)

    model, fast_step = model_and_step()
    fns = {"minicnn": fast_step, "minicnn plain": on_plain_tier(model_and_step()[1])}
    if torch is not None:
        net, topt = alexnet.build_torch(model)
        tx, tlabels = torch.from_numpy(x), torch.from_numpy(labels)
        fns["torch"] = lambda: alexnet.torch_step(net, topt, tx, tlabels)
    for fn in fns.values():  # warm-up: first-touch allocations, momentum buffers
        fn()
    best = interleaved(fns, repeat)
    if not np.isfinite(losses).all():  # NaN and inf send the fast tier down its exact (slow) paths
        print(f"warning: minicnn's loss became non-finite after {len(losses)} steps on one batch: times not representative")
    return best


def compare_eval(size, repeat, torch):
    """Best time of one evaluation forward pass of the batch (running statistics, no dropout, no caches kept for a
    backward in PyTorch): minicnn's fast tier and PyTorch (``net.eval()`` under ``torch.no_grad()``)."""
    model = alexnet.build_minicnn(size)
    x, _ = alexnet.batch(size)
    fns = {"minicnn": lambda: model.forward(x, train=False)}
    if torch is not None:
        net, _ = alexnet.build_torch(model)
        net.eval()
        tx = torch.from_numpy(x)

        def torch_eval():
            with torch.no_grad():
                return net(tx)

        fns["torch"] = torch_eval
    for fn in fns.values():
        fn()
    return interleaved(fns, repeat)


def profile_step(size, repeat):
    """Per-layer forward and backward time inside minicnn training steps (best of ``repeat``), plus loss and SGD.

    ``minicnn.train_step`` runs the whole model at once, so this one loop spells the step out layer by layer, to put
    a clock around each layer's forward and backward; it is the step's only copy, and times, never trains.
    """
    model = alexnet.build_minicnn(size)
    optimizer = alexnet.minicnn_optimizer(model)
    x, labels = alexnet.batch(size)
    best = {}

    def keep(key, t):
        best[key] = min(best.get(key, float("inf")), t)

    for _ in range(repeat + 1):  # the first step warms up and is overwritten by min()
        h = x
        for layer in model.layers:
            t = time.perf_counter()
            h = layer.forward(h, train=True)
            keep((layer.name, "fwd"), time.perf_counter() - t)
        t = time.perf_counter()
        _, d = softmax_cross_entropy(h, labels)
        keep(("loss", "fwd"), time.perf_counter() - t)
        for layer in reversed(model.layers):
            t = time.perf_counter()
            d = layer.backward(d)
            keep((layer.name, "bwd"), time.perf_counter() - t)
        t = time.perf_counter()
        optimizer.step()
        keep(("sgd", "step"), time.perf_counter() - t)
    return best


# --- the GEMM floor ------------------------------------------------------------------------------------------------
def step_gemm_flops(size):
    """Multiply-add FLOPs of one training step's products, as im2col + GEMM counts them: per conv and linear layer
    2 * (output numbers) * (inputs per output) for the forward, the same for dW and, except the first layer, dX."""
    from minicnn.layers import Conv2d, Linear

    model = alexnet.build_minicnn(size)
    x, _ = alexnet.batch(size)
    total, first = 0, True
    for layer in model.layers:
        y = layer.forward(x, train=True)
        if isinstance(layer, (Conv2d, Linear)):
            per_output = layer.params["weight"][0].size  # C*KH*KW or in_features
            total += 2 * y.size * per_output * (2 if first else 3)
            first = False
        x = y
    return total


def gemm_rates(repeat, torch):
    """float32 GFLOP/s of conv2's forward product (256 x 2400 @ 2400 x 2916, one block of 4 images) in NumPy's BLAS
    and in PyTorch, taking turns."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((256, 2400), dtype=np.float32), rng.standard_normal((2400, 2916), dtype=np.float32)
    fns = {"numpy": lambda: a @ b}
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        fns["torch"] = lambda: ta @ tb
    best = interleaved(fns, max(3, repeat))
    return {key: 2 * a.shape[0] * a.shape[1] * b.shape[1] / t / 1e9 for key, t in best.items()}


# --- peak memory in a fresh process per framework ----------------------------------------------------------------
def _vm(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def memory_worker(framework, size, steps):
    """Runs in the subprocess: build, train ``steps`` steps, report resident memory as JSON."""
    model = alexnet.build_minicnn(size)
    x, labels = alexnet.batch(size)
    if framework == "torch":
        torch = try_import_torch()
        net, opt = alexnet.build_torch(model)
        del model
        tx, tlabels = torch.from_numpy(x), torch.from_numpy(labels)
        built = _vm("VmRSS")
        for _ in range(steps):
            alexnet.torch_step(net, opt, tx, tlabels)
    else:
        optimizer = alexnet.minicnn_optimizer(model)
        built = _vm("VmRSS")
        for _ in range(steps):
            train_step(model, optimizer, x, labels)
    print(json.dumps({"built": built, "peak": _vm("VmHWM")}))


def compare_memory(size_name, steps, frameworks, reuse_freed=False):
    out = {}
    for fw in frameworks:
        cmd = [sys.executable, __file__, "--memory-worker", fw, "--size", size_name, "--memory-steps", str(steps)]
        cmd += ["--reuse-freed-memory"] if reuse_freed else []
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode:
            print(f"  {fw}: memory worker failed:\n{result.stderr[-2000:]}")
            continue
        out[fw] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


# --- report ------------------------------------------------------------------------------------------------------
def environment(torch, nml, reuse_freed=False):
    lines = [f"python {platform.python_version()}, numpy {np.__version__}, minicnn from {Path(minicnn.__file__).parent}"]
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    lines.append(f"cpu: {cpu}, {os.cpu_count()} cores")
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            owner = "numpy's blas" if "numpy" in info["filepath"] else "also loaded"
            lines.append(f"{owner}: {info.get('internal_api')} {info.get('version')} kernel {info.get('architecture')}, "
                         f"{info.get('num_threads')} threads ({Path(info['filepath']).name})")
    except ImportError:
        lines.append("blas: threadpoolctl not installed")
    from minicnn import fast

    if hasattr(fast, "get_threads"):  # not in engines before the fast tier had threads (PYTHONPATH=<old checkout>)
        lines.append(f"minicnn fast tier: {fast.get_threads()} threads (each block's BLAS single-threaded)")
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    lines.append(f"OPENBLAS_CORETYPE={coretype}" if coretype else "OPENBLAS_CORETYPE not set")
    try:
        from minicnn.fast import blas
    except ImportError:  # not in engines before issue 27 (PYTHONPATH=<old checkout>)
        blas = None
    warning = blas and blas.forced_lower_isa(os.environ, blas.cpu_flags())
    lines += [warning] if warning else []
    lines.append("malloc: freed blocks kept for reuse (minicnn.fast.reuse_freed_memory), both frameworks" if reuse_freed
                 else "malloc: the C library's defaults (--reuse-freed-memory: keep freed blocks, as femur_app does)")
    lines.append(f"torch {torch.__version__}, {torch.get_num_threads()} threads" if torch else
                 "torch: not installed - skipped")
    lines.append("numpy-ml: installed" if nml else "numpy-ml: not installed (pip install numpy-ml) - skipped")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layers", default=",".join(alexnet.LAYER_NAMES), help="comma-separated, or 'none'")
    parser.add_argument("--no-step", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--profile", action="store_true", help="only the per-layer profile of a minicnn step")
    parser.add_argument("--gemm", action="store_true", help="only the GEMM rates and the step's GEMM floor")
    parser.add_argument("--memory-steps", type=int, default=3)
    parser.add_argument("--reuse-freed-memory", action="store_true",
                        help="call minicnn.fast.reuse_freed_memory() first, as femur_app's training does: glibc "
                             "keeps freed blocks for reuse, for both frameworks (and in the memory workers)")
    parser.add_argument("--memory-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    if args.reuse_freed_memory:
        from minicnn.fast.allocator import reuse_freed_memory

        args.reuse_freed_memory = reuse_freed_memory()  # False where glibc's mallopt is not there
    if args.memory_worker:
        return memory_worker(args.memory_worker, size, args.memory_steps)

    torch = None if args.profile else try_import_torch()
    nml = None if args.profile else alexnet.import_numpy_ml()
    lines = environment(torch, nml, args.reuse_freed_memory)
    print("\n".join(lines[:-2] if args.profile else lines))  # the profile runs minicnn only
    print(f"size: batch {size.batch}, {size.channels}x{size.image}x{size.image}, width x{size.scale}, float32; "
          f"best of {args.repeat}")

    if args.profile:
        best = profile_step(size, args.repeat)
        fwd = sum(t for (_, kind), t in best.items() if kind == "fwd")
        bwd = sum(t for (_, kind), t in best.items() if kind == "bwd")
        print(f"\n{'layer':8s} {'forward ms':>10s} {'backward ms':>11s}")
        for name in [layer for layer, kind in best if kind == "fwd"]:
            print(f"{name:8s} {_ms(best[(name, 'fwd')]):>10s} {_ms(best.get((name, 'bwd'))):>11s}")
        print(f"{'sgd':8s} {'':>10s} {_ms(best[('sgd', 'step')]):>11s}  (the update)")
        print(f"{'total':8s} {_ms(fwd):>10s} {_ms(bwd):>11s}  sum {_ms(fwd + bwd + best[('sgd', 'step')])} ms")
        return

    if args.gemm:
        flops, rates = step_gemm_flops(size), gemm_rates(args.repeat, torch)
        print(f"\nthe step's products: {flops / 1e9:.0f} GFLOP")
        for key, rate in rates.items():
            print(f"  {key:6s} float32 GEMM {rate:6.0f} GFLOP/s (conv2's product) -> floor {flops / rate / 1e9 * 1e3:7.0f} ms")
        return

    names = [] if args.layers == "none" else args.layers.split(",")
    if names:
        print("\nper layer, ms (numpy-ml's pools are Python loops: not timed)")
        print(LAYER_HEADER)
        compare_layers(size, names, args.repeat, torch, nml)

    if not args.no_step:
        step = compare_step(size, args.repeat, torch)
        line = (f"\ntraining step (forward, cross-entropy, backward, SGD momentum 0.9 + L2): minicnn {_ms(step['minicnn'])} ms"
                f" (plain tier {_ms(step['minicnn plain'])} ms, {_ratio(step['minicnn plain'], step['minicnn'])} the fast tier)")
        if "torch" in step:
            line += f", torch {_ms(step['torch'])} ms, minicnn/torch {_ratio(step['minicnn'], step['torch'])}"
        print(line + " (numpy-ml: no network-level trainer for this model - not timed)")

    if not args.no_step:
        ev = compare_eval(size, args.repeat, torch)
        line = (f"evaluation forward (batch {size.batch}): minicnn {_ms(ev['minicnn'])} ms "
                f"({size.batch / ev['minicnn']:.0f} images/s)")
        if "torch" in ev:
            line += (f", torch {_ms(ev['torch'])} ms ({size.batch / ev['torch']:.0f} images/s), "
                     f"minicnn/torch {_ratio(ev['minicnn'], ev['torch'])}")
        print(line)

    if not args.no_memory:
        frameworks = ["minicnn"] + (["torch"] if torch is not None else [])
        mem = compare_memory(args.size, args.memory_steps, frameworks, args.reuse_freed_memory)
        print(f"\npeak resident memory of a fresh process, {args.memory_steps} training steps")
        for fw, m in mem.items():
            print(f"  {fw:8s} peak {m['peak'] / 2**20:7.0f} MiB   after building {m['built'] / 2**20:6.0f} MiB"
                  f"   step's own {(m['peak'] - m['built']) / 2**20:6.0f} MiB")


if __name__ == "__main__":
    main()
