"""Every AlexNet-BN layer's forward and backward pass, minicnn beside PyTorch (pytest-benchmark).

Each case runs one layer on the input it sees inside the network (``alexnet.layer_cases``) and, for backward,
an upstream gradient of its output's shape. numpy-ml is compared in ``compare.py`` only: its convolutions take
seconds per call at this size and its pooling minutes.
"""
from __future__ import annotations

import pytest

from benchmarks import alexnet

FRAMEWORKS = ["minicnn", "torch"]


def _calls(size, name, framework):
    if framework == "torch":
        pytest.importorskip("torch").set_num_threads(2)
    calls = alexnet.layer_calls(alexnet.layer_cases(size)[name], framework)
    if calls is None:
        pytest.skip(f"{framework} has no {name}")
    return calls


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("name", alexnet.LAYER_NAMES)
def test_forward(benchmark, size, name, framework):
    forward, _ = _calls(size, name, framework)
    benchmark.group = f"{name} forward"
    benchmark(forward)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("name", alexnet.LAYER_NAMES)
def test_backward(benchmark, size, name, framework):
    _, backward = _calls(size, name, framework)
    if backward is None:
        pytest.skip(f"{framework}: {name} has nothing to differentiate here")
    benchmark.group = f"{name} backward"
    benchmark(backward)
