"""One AlexNet-BN training step - forward, softmax cross-entropy, backward, SGD with momentum and L2 -
minicnn (its fast tier, and its plain tier) beside PyTorch on the same batch and the same starting weights
(pytest-benchmark)."""
from __future__ import annotations

import pytest

import minicnn
from benchmarks import alexnet
from minicnn import train_step


@pytest.mark.parametrize("framework", ["minicnn", "minicnn plain", "torch"])
def test_training_step(benchmark, size, framework):
    model = alexnet.build_minicnn(size)
    x, labels = alexnet.batch(size)
    if framework == "torch":
        torch = pytest.importorskip("torch")
        torch.set_num_threads(2)
        net, optimizer = alexnet.build_torch(model)
        del model
        tx, tlabels = torch.from_numpy(x), torch.from_numpy(labels)

        def step():
            return alexnet.torch_step(net, optimizer, tx, tlabels)
    else:
        optimizer = alexnet.minicnn_optimizer(model)
        tier = "plain" if framework == "minicnn plain" else "fast"

        def step():
            with minicnn.tier(tier):
                return train_step(model, optimizer, x, labels).loss
    step()  # warm-up: momentum buffers, first-touch allocations
    benchmark.group = "training step"
    benchmark(step)
