"""Grad-CAM and saliency against a PyTorch re-computation on the same weights."""
import numpy as np
import pytest
from skimage.transform import resize

from femur_app.evaluation.gradcam import fraction_inside, grad_cam, saliency
from minicnn.layers import BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
from conftest import require_torch


def small_net(rng):
    return Sequential(Conv2d(1, 3, 3, padding=1, rng=rng, name="conv1", dtype=np.float64), BatchNorm2d(3, dtype=np.float64),
                      ReLU(), MaxPool2d(2), Conv2d(3, 4, 3, padding=1, rng=rng, name="conv5", dtype=np.float64),
                      ReLU(), Flatten(), Linear(4 * 4 * 4, 2, rng=rng, dtype=np.float64))


def test_grad_cam_matches_torch():
    torch = require_torch()
    F = torch.nn.functional
    rng = np.random.default_rng(50)
    model = small_net(rng)
    bn = model.layers[1]
    bn.buffers["running_mean"][...] = rng.standard_normal(3)
    bn.buffers["running_var"][...] = rng.uniform(0.5, 2, 3)
    x = rng.standard_normal((3, 1, 8, 8))
    cams = grad_cam(model, x, np.array([0, 1, 1]), "conv5")

    def p(layer, key):
        return torch.tensor(model.layers[layer].params[key], requires_grad=True)

    xt = torch.tensor(x)
    h = F.conv2d(xt, p(0, "weight"), p(0, "bias"), padding=1)
    h = F.batch_norm(h, torch.tensor(bn.buffers["running_mean"]), torch.tensor(bn.buffers["running_var"]),
                     p(1, "gamma"), p(1, "beta"), training=False)
    A = F.conv2d(F.max_pool2d(F.relu(h), 2), p(4, "weight"), p(4, "bias"), padding=1)
    A.retain_grad()
    logits = F.linear(F.relu(A).flatten(1), p(7, "weight"), p(7, "bias"))
    logits[[0, 1, 2], [0, 1, 1]].sum().backward()
    cam_t = torch.relu((A.grad.mean(dim=(2, 3), keepdim=True) * A).sum(dim=1)).detach().numpy()
    for cam, ref in zip(cams, cam_t):
        up = resize(ref, (8, 8), order=1, mode="edge", anti_aliasing=False)
        np.testing.assert_allclose(cam, up / up.max(), atol=1e-6)


def test_saliency_is_the_input_gradient():
    rng = np.random.default_rng(51)
    model = small_net(rng)
    x = rng.standard_normal((2, 1, 8, 8))
    s = saliency(model, x, 1)
    logits = model.forward(x, train=False)
    dlogits = np.zeros_like(logits)
    dlogits[:, 1] = 1
    g = np.abs(model.backward(dlogits))[:, 0]
    np.testing.assert_allclose(s, g / g.max(axis=(1, 2), keepdims=True), atol=1e-6)


def test_unknown_layer_and_fraction_inside():
    model = small_net(np.random.default_rng(52))
    with pytest.raises(KeyError, match=r"no top-level layer named 'conv9'; named layers: \['conv1', 'conv5'\]"):
        grad_cam(model, np.zeros((1, 1, 8, 8)), 0, "conv9")
    heat = np.array([[1.0, 3.0], [0.0, 4.0]])
    assert fraction_inside(heat, np.array([[False, True], [False, True]])) == pytest.approx(7 / 8)
