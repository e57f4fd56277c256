"""pytest-benchmark set-up for ``benchmarks/``: collect the ``bench_*.py`` files and choose the size.

    pytest benchmarks/                                  # AlexNet-BN at batch 32, 1x224x224 (minutes)
    pytest benchmarks/ --bench-size tiny                # the same cases on a tiny network (seconds)
    pytest benchmarks/ -k "conv2 and minicnn"           # one layer, one framework
    pytest benchmarks/ --benchmark-group-by=group       # tables per layer and direction: minicnn beside torch

``pyproject.toml`` keeps ``testpaths = ["tests"]``, so a plain ``pytest`` never runs these.
"""
from __future__ import annotations

import fnmatch

import pytest

from benchmarks import alexnet

SIZES = {"full": alexnet.FULL, "tiny": alexnet.TINY}


def pytest_addoption(parser):
    parser.addoption("--bench-size", choices=sorted(SIZES), default="full",
                     help="AlexNet-BN at batch 32, 224x224 (full) or a tiny variant (tiny)")


def pytest_collect_file(file_path, parent):
    """Collect bench_*.py as test modules (unless python_files already matches them)."""
    if file_path.suffix != ".py" or not file_path.name.startswith("bench_"):
        return None
    if any(fnmatch.fnmatch(file_path.name, pattern) for pattern in parent.config.getini("python_files")):
        return None
    return pytest.Module.from_parent(parent, path=file_path)


@pytest.fixture(scope="session")
def size(request):
    """The ``alexnet.Size`` every benchmark runs at."""
    return SIZES[request.config.getoption("--bench-size")]
