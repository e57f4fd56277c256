"""femur_app.models.footprint counts a network's numbers from its sizes alone: the counts equal the built network's,
and the byte estimates hold what a training step and a checkpoint's prediction really allocate (tracemalloc sees
every NumPy array), without being more than 2.5 times that."""
import tracemalloc

import numpy as np
import pytest

from femur_app.data.normalise import Normalisation
from femur_app.models import build_model, checkpoint
from femur_app.models.footprint import footprint
from minicnn import train_step
from minicnn.layers import Flatten, Sequential
from minicnn.losses import softmax
from minicnn.optim import SGD

CASES = [("alexnet_bn", 0.25, 96, 8), ("alexnet", 0.25, 64, 32), ("googlenet", 0.25, 64, 4),
         ("alexnet_bn", 0.125, 224, 16), ("alexnet", 0.0625, 36, 64)]


def built(name, width, size, rng=None):
    return build_model(name, rng=rng or np.random.default_rng(0), width=width, input_size=size, dropout=0.5, l2=0.0,
                       l2_layers=[])


def forward_outputs(model, x) -> int:
    """Numbers in every new array a layer returns in one forward pass (each layer's forward is wrapped to count):
    a Sequential returns its last layer's array and Flatten a view, so neither counts; Concat's joined array does."""
    total = 0
    for _, layer in model.named_layers():
        if isinstance(layer, (Sequential, Flatten)):
            continue
        forward = layer.forward

        def counting(x, train=True, forward=forward):
            nonlocal total
            y = forward(x, train)
            total += y.size
            return y

        layer.forward = counting
    model.forward(x, train=True)
    return total


@pytest.mark.parametrize("name, width, size, batch", CASES)
def test_the_counts_are_the_built_networks(name, width, size, batch):
    model = built(name, width, size)
    counted = footprint(name, width=width, input_size=size)
    layers = [layer for _, layer in model.named_layers()]
    assert counted.parameters == sum(v.size for layer in layers for v in layer.params.values())
    assert counted.buffers == sum(v.size for layer in layers for v in layer.buffers.values())
    x = np.zeros((1, 1, size, size), np.float32)
    assert counted.outputs == forward_outputs(model, x)


@pytest.mark.parametrize("name, width, size, batch", CASES)
def test_the_estimates_hold_what_training_and_a_prediction_allocate(tmp_path, name, width, size, batch):
    fp = footprint(name, width=width, input_size=size)
    x = np.random.default_rng(0).standard_normal((batch, 1, size, size)).astype(np.float32)
    y = np.arange(batch) % 2
    tracemalloc.start()
    model = built(name, width, size)
    optimizer = SGD(model, lr=0.01, momentum=0.9)
    for _ in range(2):
        train_step(model, optimizer, x, y)
    training = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    path = checkpoint.save_model(tmp_path / "m.npz", model, architecture=name,
                                 model_kwargs={"width": width, "dropout": 0.5, "l2": 0.0, "l2_layers": []},
                                 input_size=size, normalisation=Normalisation.from_dict({"mean": [0.0], "std": [1.0]}),
                                 threshold=0.5)
    del model, optimizer
    tracemalloc.start()
    softmax(checkpoint.load(path).model.forward(x[:1], train=False))
    prediction = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert training <= fp.training_bytes(batch) <= 2.5 * training
    assert prediction <= fp.inference_bytes() <= 2.5 * prediction
