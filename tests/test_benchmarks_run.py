"""The benchmarks still run: every function of benchmarks/bench_*.py once, on the tiny network, untimed.

Timing is the benchmarks' business (``pytest benchmarks/``); this only catches a benchmark broken by a change
elsewhere. ``bench_kernels.py`` (the GPU kernels' benchmarks) is left to its own GPU-marked tests.
"""
from __future__ import annotations

import importlib
import itertools
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import alexnet, compare  # noqa: E402

OWN_RUNNER = {"bench_kernels"}
MODULES = sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py") if p.stem not in OWN_RUNNER)


class RunOnce:
    """Stands in for pytest-benchmark's fixture as --benchmark-disable does: call the function once."""

    group = None

    def __call__(self, fn, *args, **kwargs):
        return fn(*args, **kwargs)

    def pedantic(self, fn, args=(), kwargs=None, setup=None, **_):
        if setup is not None:
            setup()
        return fn(*args, **(kwargs or {}))


def _parameter_sets(fn):
    """Every combination of the function's single-name ``parametrize`` marks, as keyword dicts."""
    marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
    names = [m.args[0] for m in marks]
    assert all("," not in n for n in names), f"{fn.__name__}: use one name per parametrize mark"
    for values in itertools.product(*[m.args[1] for m in marks]):
        yield dict(zip(names, values))


@pytest.mark.parametrize("module_name", MODULES)
def test_benchmark_module_runs_once(module_name):
    module = importlib.import_module(f"benchmarks.{module_name}")
    functions = [getattr(module, n) for n in dir(module) if n.startswith("test_")]
    assert functions, f"{module_name} defines no benchmark"
    ran = 0
    for fn in functions:
        for params in _parameter_sets(fn):
            try:
                fn(RunOnce(), size=alexnet.TINY, **params)
                ran += 1
            except pytest.skip.Exception:
                pass  # e.g. PyTorch not installed
    assert ran


def test_compare_script_runs(capsys):
    compare.main(["--size", "tiny", "--repeat", "1", "--layers", "conv1,bn1,pool1,fc6", "--no-memory"])
    out = capsys.readouterr().out
    assert "conv1" in out and "fc6" in out and "training step" in out
    # the peak-memory worker, in its subprocess (minicnn only: PyTorch's import alone takes seconds)
    memory = compare.compare_memory("tiny", steps=1, frameworks=["minicnn"])
    assert memory["minicnn"]["peak"] >= memory["minicnn"]["built"] > 0
