"""GoogLeNet: sizes, parameter count from the paper's table, and gradients through the Inception branches."""
import numpy as np
import pytest

from femur_app.models.googlenet import INCEPTION_WIDTHS, googlenet
from minicnn.gradcheck import directional_derivative
from minicnn.losses import softmax_cross_entropy


def expected_parameters(in_channels=1, classes=2):
    """Weights and biases counted from Table 1 of Szegedy et al. (with true 5x5 branches), no aux heads."""
    total = (7 * 7 * in_channels * 64 + 64) + (64 * 64 + 64) + (3 * 3 * 64 * 192 + 192)
    c_in = 192
    for stage in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
        c1, r3, c3, r5, c5, pp = INCEPTION_WIDTHS[stage]
        total += (c_in * c1 + c1) + (c_in * r3 + r3) + (9 * r3 * c3 + c3) + (c_in * r5 + r5) + (25 * r5 * c5 + c5)
        total += c_in * pp + pp
        c_in = c1 + c3 + c5 + pp
    return total + c_in * classes + classes


def test_full_size_network_shapes_and_parameter_count():
    model = googlenet(rng=np.random.default_rng(0))
    assert sum(layer.params[key].size for layer, key in model.parameters()) == expected_parameters() == 5_969_330
    h = np.zeros((1, 1, 224, 224), np.float32)
    sizes = {}
    for layer in model.layers:
        h = layer.forward(h, train=False)
        if layer.name:
            sizes[layer.name] = h.shape[1:]
    assert sizes["inception3b"] == (480, 28, 28) and sizes["inception4e"] == (832, 14, 14)
    assert sizes["inception5b"] == (1024, 7, 7) and h.shape == (1, 2)


def test_gradients_through_the_branches():
    rng = np.random.default_rng(1)
    model = googlenet(rng=rng, width=0.0625, input_size=32, dropout=0.0).astype(np.float64)
    x = rng.standard_normal((2, 1, 32, 32))
    labels = np.array([0, 1])
    _, dlogits = softmax_cross_entropy(model.forward(x), labels)
    dx = model.backward(dlogits)
    conv = model.find("conv1")
    for array, grad in [(x, dx), (conv.params["weight"], conv.grads["weight"])]:
        u = rng.standard_normal(array.shape)
        numeric = directional_derivative(lambda: softmax_cross_entropy(model.forward(x), labels)[0], array, u)
        assert numeric == pytest.approx(float((grad * u).sum()), rel=1e-5, abs=1e-9)


def test_bad_arguments():
    with pytest.raises(ValueError, match="input_size must be a multiple of 32, got 100"):
        googlenet(input_size=100)
    with pytest.raises(ValueError, match=r"l2_layers names unknown layers \['conv3'\]"):
        googlenet(input_size=64, width=0.1, l2=1e-4, l2_layers=["conv3"])
