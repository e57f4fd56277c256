"""How long a layer's gradient lasts (the contract in ``minicnn/layers/base.py``): until the next backward.

On the fast tier ``Conv2d`` and ``Linear`` write each step's weight gradient into the array their last fast
backward left in ``grads["weight"]``, so an array kept from ``grads`` changes with the next step and a copy does
not; the plain tier returns new arrays. The reuse must never reach the optimiser's momentum: training on the
fast tier, or switching tiers between steps, gives the plain tier's weights.
"""
import numpy as np
import pytest

import minicnn
from minicnn import train_step
from minicnn.layers import BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential
from minicnn.optim import SGD


def model_and_batches(seed=0, steps=3):
    rng = np.random.default_rng(seed)
    model = Sequential(Conv2d(2, 4, 3, padding=1, rng=rng, l2=0.05), BatchNorm2d(4), ReLU(), Flatten(),
                       Linear(4 * 5 * 5, 3, rng=rng, l2=0.05)).astype(np.float64)
    batches = [(rng.standard_normal((6, 2, 5, 5)), rng.integers(0, 3, 6)) for _ in range(steps)]
    return model, batches


@pytest.mark.parametrize("tier, overwritten", [("fast", True), ("plain", False)])
def test_a_kept_gradient_changes_with_the_next_step_on_the_fast_tier_only(tier, overwritten):
    model, batches = model_and_batches()
    optimizer = SGD(model, lr=0.1, momentum=0.9)
    with minicnn.tier(tier):
        train_step(model, optimizer, *batches[0])
        kept = {i: model[i].grads["weight"] for i in (0, 4)}
        copies = {i: g.copy() for i, g in kept.items()}
        train_step(model, optimizer, *batches[1])
    for i in (0, 4):
        now = model[i].grads["weight"]
        assert not np.allclose(now, copies[i])  # a new batch, new weights: another gradient
        np.testing.assert_array_equal(kept[i], now if overwritten else copies[i])
        assert (kept[i] is now) == overwritten


def test_the_fast_tier_never_writes_into_a_gradient_another_tier_made():
    model, batches = model_and_batches()
    optimizer = SGD(model, lr=0.1, momentum=0.9)
    with minicnn.tier("plain"):
        train_step(model, optimizer, *batches[0])
    kept = model[4].grads["weight"]
    copy = kept.copy()
    train_step(model, optimizer, *batches[1])  # the fast tier
    assert model[4].grads["weight"] is not kept
    np.testing.assert_array_equal(kept, copy)


@pytest.mark.parametrize("tiers", [("fast", "fast", "fast"), ("plain", "fast", "fast"), ("fast", "plain", "fast")])
def test_momentum_never_shares_memory_with_a_reused_gradient(tiers):
    """Three Nesterov steps in the given tiers end on the all-plain weights: a velocity that were the gradient's
    own array would be overwritten by the next fast backward and the weights would drift apart."""
    reference, batches = model_and_batches(seed=1)
    model, _ = model_and_batches(seed=1)
    for net, step_tiers in ((reference, ("plain",) * 3), (model, tiers)):
        optimizer = SGD(net, lr=0.1, momentum=0.9, nesterov=True)
        for tier, batch in zip(step_tiers, batches):
            with minicnn.tier(tier):
                train_step(net, optimizer, *batch)
        for v, (layer, key) in zip(optimizer.velocity, net.parameters()):
            assert not np.shares_memory(v, layer.grads[key]), (layer, key)
    for (name, a), (_, b) in zip(reference.state_dict().items(), model.state_dict().items()):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-12, err_msg=name)
