"""Every layer's backward pass against centered finite differences in float64, on awkward shapes."""
import numpy as np
import pytest

from minicnn.gradcheck import check_layer, directional_derivative, numerical_gradient, relative_error
from minicnn.layers import (AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU,
                            Sequential)
from minicnn.losses import softmax_cross_entropy

TOL = 1e-6


def away_from_kinks(x, rng):
    """Random values with no two in a window closer than finite differences can resolve (pool ties, ReLU at 0)."""
    x[...] = rng.permutation(x.size).reshape(x.shape) / x.size * 4 - 2 + 1e-3
    return x


@pytest.mark.parametrize("in_c, out_c, k, stride, padding, hw", [
    (3, 4, 3, 1, 1, (7, 6)),
    (2, 5, (3, 2), (2, 1), ((1, 1), (0, 1)), (7, 8)),
    (1, 3, 11, 4, ((2, 1), (2, 1)), (28, 24)),  # AlexNet conv1's geometry on a smaller image
    (4, 2, 5, 1, 2, (5, 5)),
])
def test_conv2d(in_c, out_c, k, stride, padding, hw):
    rng = np.random.default_rng(1)
    layer = Conv2d(in_c, out_c, k, stride, padding, rng=rng, l2=0.05, dtype=np.float64)
    layer.params["bias"][...] = rng.standard_normal(out_c)
    errors = check_layer(layer, rng.standard_normal((2, in_c, *hw)))
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("kernel, stride, padding, hw", [(3, 2, 0, (7, 9)), (2, None, 0, (6, 4)), (3, 2, 1, (5, 7)),
                                                         ((3, 2), (1, 2), 0, (5, 6))])
def test_pools(kernel, stride, padding, hw):
    rng = np.random.default_rng(2)
    x = away_from_kinks(np.empty((2, 3, *hw)), rng)
    for layer in (MaxPool2d(kernel, stride, padding), AvgPool2d(kernel, stride, padding)):
        errors = check_layer(layer, x)
        assert errors["x"] < TOL, (layer, errors)


@pytest.mark.parametrize("train", [True, False])
def test_batchnorm2d(train):
    rng = np.random.default_rng(3)
    layer = BatchNorm2d(3, dtype=np.float64)
    layer.params["gamma"][...] = rng.uniform(0.5, 2, 3)
    layer.params["beta"][...] = rng.standard_normal(3)
    layer.buffers["running_mean"][...] = rng.standard_normal(3)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2, 3)
    errors = check_layer(layer, rng.standard_normal((3, 3, 5, 7)) * 2 + 1, train=train)
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("train", [True, False])
def test_batchnorm1d(train):
    rng = np.random.default_rng(4)
    layer = BatchNorm1d(6, dtype=np.float64)
    layer.params["gamma"][...] = rng.uniform(0.5, 2, 6)
    errors = check_layer(layer, rng.standard_normal((5, 6)), train=train)
    assert max(errors.values()) < TOL, errors


def test_relu_linear_flatten():
    rng = np.random.default_rng(5)
    assert check_layer(ReLU(), away_from_kinks(np.empty((3, 4, 5)), rng))["x"] < TOL
    errors = check_layer(Linear(7, 3, rng=rng, l2=0.1, dtype=np.float64), rng.standard_normal((5, 7)))
    assert max(errors.values()) < TOL, errors
    assert check_layer(Flatten(), rng.standard_normal((2, 3, 4, 5)))["x"] < TOL


def test_dropout_with_a_fixed_mask():
    rng = np.random.default_rng(6)
    layer = Dropout(0.6)

    class Reseeded:  # the same uniforms on every forward, so the finite differences see one fixed mask
        def random(self, shape, dtype):
            return np.random.default_rng(123).random(shape, dtype=dtype)

    layer.rng = Reseeded()
    assert check_layer(layer, rng.standard_normal((4, 9)))["x"] < TOL


def test_softmax_cross_entropy():
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((6, 4)) * 3
    labels = np.array([0, 3, 1, 1, 2, 3])
    for weights in (None, np.array([0.5, 2.0, 1.0, 3.0])):
        _, dlogits = softmax_cross_entropy(logits, labels, weights)
        numeric = numerical_gradient(lambda: softmax_cross_entropy(logits, labels, weights)[0], logits)
        assert relative_error(dlogits, numeric) < TOL


def test_whole_network_directional():
    """A small network end to end: its input and first-layer gradients through every layer's backward."""
    rng = np.random.default_rng(8)
    model = Sequential(Conv2d(2, 4, 3, padding=1, rng=rng, dtype=np.float64), BatchNorm2d(4, dtype=np.float64), ReLU(),
                       MaxPool2d(3, 2), Conv2d(4, 3, 3, rng=rng, l2=0.01, dtype=np.float64), ReLU(), Flatten(),
                       Linear(3, 2, rng=rng, dtype=np.float64))
    x = rng.standard_normal((4, 2, 7, 7))
    labels = np.array([0, 1, 1, 0])
    from minicnn.losses import l2_penalty

    def loss():
        return softmax_cross_entropy(model.forward(x), labels)[0] + l2_penalty(model)

    _, dlogits = softmax_cross_entropy(model.forward(x), labels)
    dx = model.backward(dlogits)
    for array, grad in [(x, dx), (model[0].params["weight"], model[0].grads["weight"]),
                        (model[4].params["weight"], model[4].grads["weight"])]:
        u = rng.standard_normal(array.shape)
        numeric = directional_derivative(loss, array, u)
        assert abs(numeric - float((grad * u).sum())) < 1e-6 * max(1.0, abs(numeric))
