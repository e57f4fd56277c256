"""Element-for-element parity with PyTorch: forward output, input gradient, parameter gradients, running stats."""
import numpy as np
import pytest

from minicnn import train_step
from minicnn.layers import AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential
from minicnn.losses import softmax_cross_entropy
from minicnn.optim import SGD, CosineLR, StepLR
from conftest import require_torch

torch = require_torch()
F = torch.nn.functional


def t(a, grad=False):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


def close(a, b, tol=1e-10):
    np.testing.assert_allclose(np.asarray(a), b.detach().numpy() if hasattr(b, "detach") else b, rtol=tol, atol=tol)


@pytest.mark.parametrize("seed", range(6))
def test_conv2d_random_configs(seed):
    rng = np.random.default_rng(seed)
    C, Fo, KH, KW = rng.integers(1, 5), rng.integers(1, 6), rng.integers(1, 6), rng.integers(1, 6)
    SH, SW = rng.integers(1, 4), rng.integers(1, 4)
    top, bottom, left, right = rng.integers(0, 3, 4)
    # pick an input size that makes both output sizes integral
    H = KH - top - bottom + SH * rng.integers(max(1, 1 + (top + bottom) // SH), 6)
    W = KW - left - right + SW * rng.integers(max(1, 1 + (left + right) // SW), 6)
    layer = Conv2d(C, Fo, (KH, KW), (SH, SW), ((top, bottom), (left, right)), rng=rng, dtype=np.float64)
    layer.params["bias"][...] = rng.standard_normal(Fo)
    x = rng.standard_normal((3, C, H, W))
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    xt, wt, bt = t(x, True), t(layer.params["weight"], True), t(layer.params["bias"], True)
    yt = F.conv2d(F.pad(xt, (left, right, top, bottom)), wt, bt, stride=(SH, SW))
    yt.backward(t(dy))
    close(y, yt)
    close(dx, xt.grad)
    close(layer.grads["weight"], wt.grad)
    close(layer.grads["bias"], bt.grad)


def test_alexnet_conv1_geometry_matches_torchvision_padding():
    """Padding ((2, 1), (2, 1)) at 224 equals torchvision's padding=2 (whose last padded row/column is never read)."""
    rng = np.random.default_rng(0)
    layer = Conv2d(1, 4, 11, 4, ((2, 1), (2, 1)), rng=rng, dtype=np.float64)
    x = rng.standard_normal((1, 1, 224, 224))
    y = layer.forward(x)
    assert y.shape == (1, 4, 55, 55)
    yt = F.conv2d(t(x), t(layer.params["weight"]), t(layer.params["bias"]), stride=4, padding=2)
    close(y, yt)


@pytest.mark.parametrize("kernel, stride, padding, shape", [(3, 2, 0, (2, 3, 13, 13)), (3, 2, 1, (2, 2, 9, 7)),
                                                            (2, 2, 0, (3, 2, 8, 6)), ((3, 1), (1, 2), (1, 0), (2, 2, 5, 7))])
def test_pools(kernel, stride, padding, shape):
    rng = np.random.default_rng(9)
    x = rng.standard_normal(shape).round(1)  # rounding makes ties: the first maximum must win, as in PyTorch
    for layer, fn in [(MaxPool2d(kernel, stride, padding), F.max_pool2d), (AvgPool2d(kernel, stride, padding), F.avg_pool2d)]:
        y = layer.forward(x)
        dy = rng.standard_normal(y.shape)
        dx = layer.backward(dy)
        xt = t(x, True)
        yt = fn(xt, kernel, stride, padding)
        yt.backward(t(dy))
        close(y, yt)
        close(dx, xt.grad)


@pytest.mark.parametrize("cls, shape", [(BatchNorm2d, (4, 3, 5, 6)), (BatchNorm1d, (7, 5))])
def test_batchnorm_several_steps(cls, shape):
    rng = np.random.default_rng(10)
    C = shape[1]
    layer = cls(C, eps=1e-3, momentum=0.2, dtype=np.float64)
    ref = (torch.nn.BatchNorm2d if cls is BatchNorm2d else torch.nn.BatchNorm1d)(C, eps=1e-3, momentum=0.2).double()
    gamma, beta = rng.uniform(0.5, 2, C), rng.standard_normal(C)
    layer.params["gamma"][...], layer.params["beta"][...] = gamma, beta
    with torch.no_grad():
        ref.weight.copy_(t(gamma))
        ref.bias.copy_(t(beta))
    for step in range(4):
        x = rng.standard_normal(shape) * (step + 1) + step
        dy = rng.standard_normal(shape)
        train = step < 3
        ref.train(train)
        ref.zero_grad()
        xt = t(x, True)
        yt = ref(xt)
        yt.backward(t(dy))
        y = layer.forward(x, train=train)
        dx = layer.backward(dy)
        close(y, yt)
        close(dx, xt.grad)
        close(layer.grads["gamma"], ref.weight.grad)
        close(layer.grads["beta"], ref.bias.grad)
        close(layer.buffers["running_mean"], ref.running_mean)
        close(layer.buffers["running_var"], ref.running_var)


def test_relu_linear_loss():
    rng = np.random.default_rng(11)
    lin = Linear(6, 4, rng=rng, dtype=np.float64)
    lin.params["bias"][...] = rng.standard_normal(4)
    x = rng.standard_normal((5, 6))
    labels = np.array([0, 3, 2, 2, 1])
    weights = np.array([1.0, 2.0, 0.5, 3.0])
    h = ReLU().forward(x)
    logits = lin.forward(h)
    loss, dlogits = softmax_cross_entropy(logits, labels, weights)
    dh = lin.backward(dlogits)
    xt, wt, bt = t(x, True), t(lin.params["weight"], True), t(lin.params["bias"], True)
    logits_t = F.linear(F.relu(xt), wt, bt)
    loss_t = F.cross_entropy(logits_t, torch.tensor(labels), weight=t(weights))
    loss_t.backward()
    assert abs(loss - loss_t.item()) < 1e-12
    close(lin.grads["weight"], wt.grad)
    close(lin.grads["bias"], bt.grad)
    close(np.where(x > 0, dh, 0), xt.grad)


def test_dropout_scaling_and_eval_identity():
    rng = np.random.default_rng(12)
    layer = Dropout(0.6, rng=np.random.default_rng(0))
    x = rng.standard_normal((64, 500))
    y = layer.forward(x)
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] * 2.5)  # 1 / (1 - 0.6)
    assert abs(kept.mean() - 0.4) < 0.01  # 32000 draws: sd of the kept fraction is 0.0027
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.where(kept, 2.5, 0.0))
    assert layer.forward(x, train=False) is x


def build_pair(rng):
    """The same small CNN in minicnn and in PyTorch, with identical weights."""
    ours = Sequential(Conv2d(2, 4, 3, padding=1, rng=rng, l2=1e-2, dtype=np.float64), BatchNorm2d(4, dtype=np.float64),
                      ReLU(), MaxPool2d(3, 2), Conv2d(4, 5, 3, rng=rng, l2=1e-2, dtype=np.float64), ReLU(), Flatten(),
                      Linear(5, 3, rng=rng, dtype=np.float64))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(3, 2), torch.nn.Conv2d(4, 5, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                 torch.nn.Linear(5, 3)).double()
    with torch.no_grad():
        for i, key in [(0, "weight"), (0, "bias"), (4, "weight"), (4, "bias"), (7, "weight"), (7, "bias")]:
            getattr(theirs[i], key).copy_(t(ours[i].params[key]))
    return ours, theirs


@pytest.mark.parametrize("momentum, nesterov, schedule", [(0.0, False, "step"), (0.9, False, "cosine"), (0.9, True, "step")])
def test_sgd_steps_match_torch(momentum, nesterov, schedule):
    rng = np.random.default_rng(13)
    ours, theirs = build_pair(rng)
    opt = SGD(ours, lr=0.05, momentum=momentum, nesterov=nesterov)
    decay = [theirs[0].weight, theirs[4].weight]
    rest = [p for p in theirs.parameters() if all(p is not d for d in decay)]
    opt_t = torch.optim.SGD([{"params": decay, "weight_decay": 1e-2}, {"params": rest}], lr=0.05, momentum=momentum,
                            nesterov=nesterov)
    if schedule == "step":
        sched, sched_t = StepLR(opt, 2, 0.5), torch.optim.lr_scheduler.StepLR(opt_t, 2, 0.5)
    else:
        sched, sched_t = CosineLR(opt, 4, 1e-3), torch.optim.lr_scheduler.CosineAnnealingLR(opt_t, 4, 1e-3)
    for step in range(5):
        x = rng.standard_normal((6, 2, 7, 7))
        labels = rng.integers(0, 3, 6)
        train_step(ours, opt, x, labels)
        sched.step()
        opt_t.zero_grad()
        F.cross_entropy(theirs(t(x)), torch.tensor(labels)).backward()
        opt_t.step()
        sched_t.step()
        assert abs(opt.lr - opt_t.param_groups[0]["lr"]) < 1e-15
    for i, key in [(0, "weight"), (0, "bias"), (4, "weight"), (7, "weight"), (7, "bias")]:
        close(ours[i].params[key], getattr(theirs[i], key), tol=1e-9)
    close(ours[1].buffers["running_var"], theirs[1].running_var, tol=1e-9)
