"""The fast tier's own switches, each path beside the one it replaced (pytest-benchmark), one layer at a time:

* Winograd F(2x2, 5x5) or im2col for the 5x5 convolution (conv2); the 3x3 layers for comparison (im2col either
  way: ``minicnn.fast.winograd.KERNELS``);
* the fast tier's own threads (``minicnn.fast.set_threads``; default: the BLAS limit) or one thread with the BLAS
  threading each GEMM (``set_threads(1)``, the engine before issue 12), for every conv and linear layer.

    pytest benchmarks/bench_fast_paths.py --benchmark-group-by=group
"""
from __future__ import annotations

import pytest

from benchmarks import alexnet
from minicnn.fast import conv as fast_conv
from minicnn.fast import threads

CONV = ["conv2", "conv3", "conv4", "conv5"]


def _forward_backward(size, name):
    forward, backward = alexnet.layer_calls(alexnet.layer_cases(size)[name], "minicnn")

    def step():
        forward()
        backward()

    return step


@pytest.mark.parametrize("winograd", [True, False])
@pytest.mark.parametrize("name", CONV)
def test_conv_algorithm(benchmark, size, name, winograd):
    step = _forward_backward(size, name)
    benchmark.group = f"{name} forward+backward: Winograd or im2col"
    previous = fast_conv.USE_WINOGRAD
    fast_conv.USE_WINOGRAD = winograd
    try:
        benchmark(step)
    finally:
        fast_conv.USE_WINOGRAD = previous


@pytest.mark.parametrize("own_threads", [True, False])
@pytest.mark.parametrize("name", ["conv1"] + CONV + ["fc6", "fc7"])
def test_threads(benchmark, size, name, own_threads):
    step = _forward_backward(size, name)
    benchmark.group = f"{name} forward+backward: the fast tier's threads or the BLAS's"
    threads.set_threads(None if own_threads else 1)
    try:
        benchmark(step)
    finally:
        threads.set_threads(None)
