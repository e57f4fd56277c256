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
    memory = compare.compare_memory("tiny", steps=1, frameworks=["minicnn"], reuse_freed=True)  # the worker's flag
    assert memory["minicnn"]["peak"] >= memory["minicnn"]["built"] > 0


def test_paper_run_cost_counts_the_state_writes(capsys):
    from benchmarks import paper_run_cost

    # the fold's rule, epochs of 4 minutes: every epoch at 0 minutes; at 10 minutes after epochs 3, 6, 9 and the last
    assert paper_run_cost.state_saves(10, 240.0, 0) == 10
    assert paper_run_cost.state_saves(10, 240.0, 10) == 4
    assert paper_run_cost.state_saves(67, 45.0, 10) == 5  # 67 x 45 s = 50 min: after epochs 14, 28, 42, 56 and 67
    sets = ["data.n=40", "data.n_malignant=14", "data.input_size=40", "model.width=0.125", "train.epochs=3",
            "cv.folds=2", "run.checkpoint_minutes=0"]
    assert paper_run_cost.main(sum((["--set", s] for s in sets), [])) == 0
    out = capsys.readouterr().out
    assert "3 epochs, 2 folds of about 20 training cases" in out and "3 state writes per fold" in out


def test_allocator_ab_runs_both_ways(capsys):
    from benchmarks import allocator_ab

    assert allocator_ab.main(["--pairs", "1", "--size", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "pair 1 default" in out and "pair 1 reuse" in out


def test_allocator_ab_times_the_predict_command_both_ways(capsys):
    import re

    from benchmarks import allocator_ab

    assert allocator_ab.main(["--job", "predict", "--pairs", "1", "--size", "tiny", "--n", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("femur_app.predict, one command per process: alexnet_bn, width 0.125, 64 px")
    assert "3 synthetic 16-bit PNGs, --roi " in lines[0]
    row = (r"pair 1 {} +[0-9.]+ images/s \([0-9.]+ s, of which loading the checkpoint [0-9.]+ s\)  "
           r"kernel [0-9.]+ s  \d+ page faults  peak \d+ MiB$")
    assert re.match(row.format("default"), lines[1]) and re.match(row.format("reuse"), lines[2]), lines


def test_first_touch_reports_every_process(capsys):
    from benchmarks import first_touch

    assert first_touch.main(["--mb", "8", "--processes", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("machine: ") and "2 fresh processes, each writing 8 MB once" in lines[0]
    assert [line.split(":")[0] for line in lines[1:]] == ["process 1", "process 2"]
    assert all("s per GB" in line and "page faults" in line for line in lines[1:])


def test_fc_threads_times_every_way(tmp_path, capsys):
    from benchmarks import fc_threads

    record = fc_threads.main(["--size", "tiny", "--repeat", "1", "--out", str(tmp_path / "fc.json")])
    assert list(record["layers"]) == ["fc6", "fc8"] and record["blas"].startswith(("openblas", "mkl", "blis"))
    assert all(layer[way][phase] > 0 for layer in record["layers"].values() for way in fc_threads.WAYS
               for phase in ("forward", "backward"))
    assert capsys.readouterr().out.startswith("cpu: ")


def test_performance_md_quotes_the_fc_records():
    """docs/performance.md's fully connected tables and the figures its text draws from them are the records'."""
    import json

    from benchmarks import fc_threads

    page = (ROOT / "docs" / "performance.md").read_text()
    records = {name: json.loads((ROOT / "docs" / "figures" / name).read_text())
               for name in ("fc_threads.json", "fc_threads_quick.json")}
    for record in records.values():
        assert fc_threads.markdown_table(record) in page
    full = records["fc_threads.json"]
    assert f"(load average {full['load_before']:.1f} before, {full['load_after']:.1f} after" in page
    layers = full["layers"]
    large = [(name, phase) for name in ("fc6", "fc7") for phase in ("forward", "backward")]
    slowest = [(n, p) for n, p in large if max(fc_threads.WAYS, key=lambda w: layers[n][w][p]) == "two_blas_threads"]
    ratios = [layers[n]["two_blas_threads"][p] / layers[n]["one_blas_thread"][p] for n, p in slowest]
    assert len(slowest) == 3 and f"({min(ratios):.1f}-{max(ratios):.0f}x the time of" in page
    faster_alone = [(n, p) for n, p in large if layers[n]["one_blas_thread"][p] < layers[n]["two_tier_threads"][p]]
    assert faster_alone == [("fc6", "forward"), ("fc7", "forward"), ("fc7", "backward")]
    split_gain = layers["fc6"]["one_blas_thread"]["backward"] / layers["fc6"]["two_tier_threads"]["backward"]
    assert f"split\n{split_gain:.1f}x faster on fc6's backward" in page
