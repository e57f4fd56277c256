"""minicnn.train_step: the one training step (forward, loss, backward, optimiser step) that every trainer calls."""
import numpy as np

from minicnn import train_step
from minicnn.layers import BatchNorm2d, Conv2d, Flatten, Linear, ReLU, Sequential
from minicnn.losses import softmax_cross_entropy
from minicnn.optim import SGD


def small_model(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential(Conv2d(2, 3, 3, padding=1, rng=rng), BatchNorm2d(3), ReLU(), Flatten(), Linear(3 * 5 * 5, 4, rng=rng))


def test_a_step_equals_forward_loss_backward_and_sgd_written_out():
    rng = np.random.default_rng(1)
    x, labels = rng.standard_normal((6, 2, 5, 5)).astype(np.float32), np.array([0, 1, 2, 3, 1, 0])
    by_hand, stepped = small_model(), small_model()
    logits = by_hand.forward(x, train=True)
    loss, dlogits = softmax_cross_entropy(logits, labels)
    by_hand.backward(dlogits)
    SGD(by_hand, lr=0.1, momentum=0.9).step()
    step = train_step(stepped, SGD(stepped, lr=0.1, momentum=0.9), x, labels)
    assert step.finite and step.loss == float(loss)
    np.testing.assert_array_equal(step.logits, logits)
    for (name, a), (_, b) in zip(by_hand.state_dict().items(), stepped.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_a_non_finite_loss_changes_no_weight():
    model = small_model()
    before = {k: v.copy() for k, v in model.state_dict().items() if "running" not in k}
    x = np.full((4, 2, 5, 5), np.nan, np.float32)
    step = train_step(model, SGD(model, lr=0.1, momentum=0.9), x, np.array([0, 1, 2, 3]))
    assert not step.finite
    for name, value in before.items():
        np.testing.assert_array_equal(model.state_dict()[name], value, err_msg=name)
