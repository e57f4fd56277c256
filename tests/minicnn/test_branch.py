"""The branching block: gradient sums over branches, channel slices, and parity with a PyTorch Inception-like block."""
import numpy as np
import pytest

from minicnn.gradcheck import check_layer
from minicnn.layers import Concat, Conv2d, MaxPool2d, ReLU, Sequential


def inception_like(rng, dtype=np.float64):
    return Concat(Conv2d(3, 2, 1, rng=rng, dtype=dtype),
                  Sequential(Conv2d(3, 2, 1, rng=rng, dtype=dtype), ReLU(), Conv2d(2, 3, 3, padding=1, rng=rng, dtype=dtype)),
                  Sequential(MaxPool2d(3, 1, padding=1), Conv2d(3, 1, 1, rng=rng, dtype=dtype)))


def test_concat_gradients_finite_differences():
    rng = np.random.default_rng(40)
    block = inception_like(rng)
    x = rng.permutation(2 * 3 * 5 * 6).reshape(2, 3, 5, 6) / 60.0 - 1.0  # distinct values: no pool ties
    errors = check_layer(block, x)
    assert errors["x"] < 1e-6, errors
    y = block.forward(x)
    assert y.shape == (2, 6, 5, 6)


def test_input_gradient_is_the_sum_of_branch_gradients():
    rng = np.random.default_rng(41)
    a, b = Conv2d(2, 3, 3, padding=1, rng=rng, dtype=np.float64), Conv2d(2, 1, 1, rng=rng, dtype=np.float64)
    block = Concat(a, b)
    x = rng.standard_normal((2, 2, 4, 4))
    dy = rng.standard_normal((2, 4, 4, 4))
    block.forward(x)
    dx = block.backward(dy)
    a.forward(x)
    b.forward(x)
    np.testing.assert_allclose(dx, a.backward(dy[:, :3]) + b.backward(dy[:, 3:]), atol=1e-12)


def test_mismatched_branch_shapes_are_named():
    rng = np.random.default_rng(42)
    block = Concat(Conv2d(1, 1, 3, rng=rng, name="valid"), Conv2d(1, 1, 3, padding=1, rng=rng, name="same"))
    with pytest.raises(ValueError, match=r"Conv2d 'valid': \(1, 1, 3, 3\), Conv2d 'same': \(1, 1, 5, 5\)"):
        block.forward(np.zeros((1, 1, 5, 5), np.float32))


def test_parity_with_torch():
    from conftest import require_torch

    torch = require_torch()
    rng = np.random.default_rng(43)
    block = inception_like(rng)
    x = rng.standard_normal((2, 3, 5, 6))
    y = block.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = block.backward(dy)
    c1, (c2a, _, c2b), (_, c3) = block.layers[0], block.layers[1].layers, block.layers[2].layers
    xt = torch.tensor(x, requires_grad=True)

    def conv(layer, h, padding=0):
        return torch.nn.functional.conv2d(h, torch.tensor(layer.params["weight"]), torch.tensor(layer.params["bias"]),
                                          padding=padding)

    branch3 = conv(c3, torch.nn.functional.max_pool2d(xt, 3, 1, 1))
    yt = torch.cat([conv(c1, xt), conv(c2b, torch.relu(conv(c2a, xt)), 1), branch3], dim=1)
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-12)
