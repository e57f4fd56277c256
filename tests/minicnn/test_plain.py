"""The plain tier (``minicnn.plain``) against its two independent oracles: float64 centred finite differences
of every gradient, and PyTorch element for element (forward, every gradient, running statistics, SGD).

Shapes are awkward on purpose: odd sizes, 11x11 stride 4 with asymmetric padding, overlapping 3x3 stride-2
pools, batch 1, batch norm with M = 2 values per channel.
"""
import numpy as np
import pytest

from minicnn import plain
from minicnn.gradcheck import numerical_gradient, relative_error
from conftest import require_torch

TOL = 1e-6  # finite differences in float64: h = 1e-6 leaves about 1e-9 of error on these smooth losses


def fd_check(forward, backward, inputs, rng):
    """L = sum(forward(*inputs) * R) for a random R; backward(R) must give dL/d(each input), in order."""
    y = forward(*inputs)
    R = rng.standard_normal(y.shape)
    analytic = backward(R)
    for x, grad in zip(inputs, analytic):
        numeric = numerical_gradient(lambda: float((forward(*inputs) * R).sum()), x)
        assert relative_error(grad, numeric) < TOL


CONV_CASES = [  # (N, C, H, W), (F, KH, KW), stride, padding
    ((2, 3, 9, 8), (4, 3, 3), 2, ((1, 1), (2, 1))),
    ((1, 1, 24, 28), (2, 11, 11), 4, ((2, 1), (2, 1))),  # AlexNet's conv1 geometry, batch 1
    ((3, 2, 7, 5), (3, 5, 3), (1, 2), (2, 1)),
    ((2, 4, 5, 5), (1, 1, 1), 1, 0),
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", CONV_CASES)
def test_conv2d_finite_differences(x_shape, w_shape, stride, padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((w_shape[0], x_shape[1]) + w_shape[1:])
    b = rng.standard_normal(w_shape[0])
    state = {}

    def forward(x, w, b):
        y, state["cache"] = plain.conv2d_forward(x, w, b, stride, padding)
        return y

    fd_check(forward, lambda dy: plain.conv2d_backward(dy, state["cache"]), [x, w, b], rng)


def test_conv2d_without_bias_and_without_dx():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    y, cache = plain.conv2d_forward(x, w, None, 1, 1)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = plain.conv2d_backward(dy, cache)
    assert db is None and dx.shape == x.shape
    dx2, dw2, _ = plain.conv2d_backward(dy, cache, need_dx=False)
    assert dx2 is None
    np.testing.assert_array_equal(dw2, dw)


POOL_CASES = [((2, 3, 9, 11), 3, 2, ((1, 1), (0, 0))), ((1, 2, 7, 7), 3, 2, 0), ((2, 1, 6, 8), (2, 4), (2, 4), 0)]


@pytest.mark.parametrize("x_shape, kernel_size, stride, padding", POOL_CASES)
def test_maxpool2d_finite_differences(x_shape, kernel_size, stride, padding):
    rng = np.random.default_rng(3)
    x = rng.permutation(np.arange(np.prod(x_shape), dtype=np.float64)).reshape(x_shape) * 0.1  # no ties: no kinks
    state = {}

    def forward(x):
        y, state["cache"] = plain.maxpool2d_forward(x, kernel_size, stride, padding)
        return y

    fd_check(forward, lambda dy: [plain.maxpool2d_backward(dy, state["cache"])], [x], rng)


def test_maxpool2d_ties_go_to_the_first_maximum_and_overlaps_add_up():
    x = np.zeros((1, 1, 5, 5))  # all tied: every 3x3 stride-2 window's winner is its top-left pixel
    y, cache = plain.maxpool2d_forward(x, 3, 2, 0)
    np.testing.assert_array_equal(cache.argmax, np.zeros((1, 1, 2, 2)))
    dx = plain.maxpool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    expected = np.zeros((1, 1, 5, 5))
    expected[0, 0, [0, 0, 2, 2], [0, 2, 0, 2]] = [1, 2, 3, 4]
    np.testing.assert_array_equal(dx, expected)
    x = np.zeros((1, 1, 3, 5))
    x[0, 0, 1, 2] = 1.0  # the shared column of two overlapping windows wins both: its gradients add up
    _, cache = plain.maxpool2d_forward(x, 3, 2, 0)
    np.testing.assert_array_equal(plain.maxpool2d_backward(np.array([[[[1.0, 2.0]]]]), cache)[0, 0, 1, 2], 3.0)


@pytest.mark.parametrize("x_shape, kernel_size, stride, padding", POOL_CASES)
def test_avgpool2d_finite_differences(x_shape, kernel_size, stride, padding):
    rng = np.random.default_rng(4)
    state = {}

    def forward(x):
        y, state["cache"] = plain.avgpool2d_forward(x, kernel_size, stride, padding)
        return y

    fd_check(forward, lambda dy: [plain.avgpool2d_backward(dy, state["cache"])], [rng.standard_normal(x_shape)], rng)


def test_relu_finite_differences_and_conventions():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 5))
    x[np.abs(x) < 1e-3] = 0.5  # away from the kink
    state = {}

    def forward(x):
        y, state["cache"] = plain.relu_forward(x)
        return y

    fd_check(forward, lambda dy: [plain.relu_backward(dy, state["cache"])], [x], rng)
    y, cache = plain.relu_forward(np.array([-1.0, 0.0, 2.0, np.nan], dtype=np.float32))
    assert y.dtype == np.float32 and np.isnan(y[3])
    np.testing.assert_array_equal(plain.relu_backward(np.full(4, 5.0, np.float32), cache), [0.0, 0.0, 5.0, 0.0])


@pytest.mark.parametrize("shape", [(2, 3, 1, 1), (4, 5), (3, 2, 5, 7), (1, 3, 2, 3)])  # M = 2, 4, 105, 6
def test_batchnorm_finite_differences(shape):
    rng = np.random.default_rng(6)
    x = 2.0 * rng.standard_normal(shape) + 1.0
    C = shape[1]
    gamma, beta = rng.standard_normal(C) + 1.0, rng.standard_normal(C)
    state = {}

    def forward(x, gamma, beta):
        y, state["cache"] = plain.batchnorm_forward(x, gamma, beta, eps=1e-3)
        return y

    fd_check(forward, lambda dy: plain.batchnorm_backward(dy, state["cache"]), [x, gamma, beta], rng)

    rm, rv = rng.standard_normal(C), rng.random(C) + 0.5

    def eval_forward(x, gamma, beta):
        y, state["cache"] = plain.batchnorm_eval_forward(x, gamma, beta, rm, rv, 1e-3)
        return y

    fd_check(eval_forward, lambda dy: plain.batchnorm_eval_backward(dy, state["cache"]), [x, gamma, beta], rng)


def test_batchnorm_identities_and_running_statistics():
    """sum_j dx_j = 0 always; sum_j dx_j x_hat_j = 0 exactly only at eps = 0 (x_hat's variance is then 1)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 2, 4, 5))
    gamma, beta = rng.standard_normal(2), rng.standard_normal(2)
    y, cache = plain.batchnorm_forward(x, gamma, beta, eps=0.0)
    dx, _, _ = plain.batchnorm_backward(rng.standard_normal(x.shape), cache)
    np.testing.assert_allclose(dx.sum(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose((dx * cache.x_hat).sum(axis=(0, 2, 3)), 0, atol=1e-12)
    _, cache = plain.batchnorm_forward(x, gamma, beta, eps=0.5)  # eps > 0: the remainder the docstring gives
    g = rng.standard_normal(x.shape)
    dx, _, _ = plain.batchnorm_backward(g, cache)
    remainder = gamma * cache.inv_std ** 3 * 0.5 * (g * cache.x_hat).sum(axis=(0, 2, 3))
    assert np.abs(remainder).min() > 1e-3
    np.testing.assert_allclose((dx * cache.x_hat).sum(axis=(0, 2, 3)), remainder, rtol=1e-10)
    rm, rv = plain.batchnorm_update_running(np.zeros(2), np.ones(2), cache, 0.1)
    np.testing.assert_allclose(rm, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-12)


def test_dropout_mask_and_gradient():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 7)).astype(np.float32)
    y, cache = plain.dropout_forward(x, 0.6, np.random.default_rng(9))
    u = np.random.default_rng(9).random(x.shape, dtype=np.float32)  # the same draws
    np.testing.assert_array_equal(cache.mask, np.where(u >= 0.6, np.float32(2.5), 0))
    np.testing.assert_array_equal(y, x * cache.mask)
    assert y.dtype == cache.mask.dtype == np.float32
    dy = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(plain.dropout_backward(dy, cache), dy * cache.mask)
    with pytest.raises(ValueError, match="p_drop"):
        plain.dropout_forward(x, 1.0, rng)


def test_linear_finite_differences():
    rng = np.random.default_rng(10)
    state = {}

    def forward(x, w, b):
        y, state["cache"] = plain.linear_forward(x, w, b)
        return y

    inputs = [rng.standard_normal((3, 5)), rng.standard_normal((4, 5)), rng.standard_normal(4)]
    fd_check(forward, lambda dy: plain.linear_backward(dy, state["cache"]), inputs, rng)


@pytest.mark.parametrize("weighted", [False, True])
def test_softmax_cross_entropy_finite_differences(weighted):
    rng = np.random.default_rng(11)
    logits, labels = 3.0 * rng.standard_normal((7, 3)), rng.integers(0, 3, 7)
    weights = np.array([0.5, 2.0, 1.25]) if weighted else None
    loss, dlogits = plain.softmax_cross_entropy(logits, labels, weights)
    numeric = numerical_gradient(lambda: plain.softmax_cross_entropy(logits, labels, weights)[0], logits)
    assert relative_error(dlogits, numeric) < TOL
    w = np.ones(7) if weights is None else weights[labels]
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert loss == pytest.approx(-(w * log_p[np.arange(7), labels]).sum() / w.sum(), rel=1e-12)


def test_sgd_step_by_hand():
    param, grad = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    p1, v1 = plain.sgd_step(param, grad, None, lr=0.1, momentum=0.9, nesterov=False, l2=0.0)
    np.testing.assert_allclose(p1, [0.95, -2.025])
    np.testing.assert_allclose(v1, grad)
    assert v1 is not grad  # the velocity must survive the next backward writing into the gradient's buffer
    p2, v2 = plain.sgd_step(p1, grad, v1, lr=0.1, momentum=0.9, nesterov=True, l2=0.1)
    g = grad + 0.1 * p1
    np.testing.assert_allclose(v2, 0.9 * v1 + g)
    np.testing.assert_allclose(p2, p1 - 0.1 * (g + 0.9 * v2))
    p3, v3 = plain.sgd_step(param, grad, None, lr=0.1)
    assert v3 is None
    np.testing.assert_allclose(p3, param - 0.1 * grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_op_keeps_the_dtype(dtype):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 7, 7)).astype(dtype)
    w, v = rng.standard_normal((4, 3, 3, 3)).astype(dtype), rng.standard_normal(3).astype(dtype)
    outs = [plain.conv2d_forward(x, w, w[:, 0, 0, 0], 2, 0), plain.maxpool2d_forward(x, 3, 2, 0),
            plain.avgpool2d_forward(x, 3, 2, 0), plain.relu_forward(x), plain.batchnorm_forward(x, v, v),
            plain.batchnorm_eval_forward(x, v, v, v, v * v + 1), plain.dropout_forward(x, 0.5, rng)]
    backwards = [plain.conv2d_backward, plain.maxpool2d_backward, plain.avgpool2d_backward, plain.relu_backward,
                 plain.batchnorm_backward, plain.batchnorm_eval_backward, plain.dropout_backward]
    for (y, cache), backward in zip(outs, backwards):
        assert y.dtype == dtype
        grads = backward(np.ones_like(y), cache)
        for g in grads if isinstance(grads, tuple) else [grads]:
            assert g.dtype == dtype
    h = x.reshape(2, -1)
    wl = rng.standard_normal((3, h.shape[1])).astype(dtype)
    y, cache = plain.linear_forward(h, wl, wl[:, 0])
    assert y.dtype == dtype and all(g.dtype == dtype for g in plain.linear_backward(y, cache))
    assert plain.softmax_cross_entropy(y, np.array([0, 2]))[1].dtype == dtype
    assert all(a.dtype == dtype for a in plain.sgd_step(v, v, v, 0.1, 0.9, True, 0.01))


# --- PyTorch ------------------------------------------------------------------------------------------------------
def _torch():
    torch = require_torch()
    return torch, torch.nn.functional


def t(torch, a, grad=False):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


def close(a, b, tol=1e-10):
    np.testing.assert_allclose(np.asarray(a), b.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", CONV_CASES)
def test_conv2d_against_torch(x_shape, w_shape, stride, padding):
    torch, F = _torch()
    rng = np.random.default_rng(20)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((w_shape[0], x_shape[1]) + w_shape[1:])
    b = rng.standard_normal(w_shape[0])
    y, cache = plain.conv2d_forward(x, w, b, stride, padding)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = plain.conv2d_backward(dy, cache)
    from minicnn._geometry import normalize_pair, normalize_padding

    (top, bottom), (left, right) = normalize_padding(padding)
    xt, wt, bt = t(torch, x, True), t(torch, w, True), t(torch, b, True)
    yt = F.conv2d(F.pad(xt, (left, right, top, bottom)), wt, bt, stride=normalize_pair(stride, "stride"))
    yt.backward(t(torch, dy))
    close(y, yt)
    close(dx, xt.grad)
    close(dw, wt.grad)
    close(db, bt.grad)


@pytest.mark.parametrize("x_shape, kernel_size, stride, padding", POOL_CASES)
def test_pools_against_torch(x_shape, kernel_size, stride, padding):
    torch, F = _torch()
    from minicnn._geometry import normalize_padding

    rng = np.random.default_rng(21)
    x = rng.integers(-3, 4, x_shape).astype(np.float64)  # many ties: the first maximum must win, as in PyTorch
    (top, bottom), (left, right) = normalize_padding(padding)
    for forward, backward, torch_pool, fill in [
        (plain.maxpool2d_forward, plain.maxpool2d_backward, F.max_pool2d, -np.inf),
        (plain.avgpool2d_forward, plain.avgpool2d_backward, F.avg_pool2d, 0.0),
    ]:
        y, cache = forward(x, kernel_size, stride, padding)
        dy = rng.standard_normal(y.shape)
        xt = t(torch, x, True)
        yt = torch_pool(F.pad(xt, (left, right, top, bottom), value=fill), kernel_size, stride)
        yt.backward(t(torch, dy))
        close(y, yt)
        close(backward(dy, cache), xt.grad)


@pytest.mark.parametrize("shape", [(5, 3, 4, 3), (2, 3, 1, 1), (6, 4)])
def test_batchnorm_against_torch(shape):
    torch, F = _torch()
    rng = np.random.default_rng(22)
    x = 3.0 * rng.standard_normal(shape) - 1.0
    C = shape[1]
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    rm, rv = rng.standard_normal(C), rng.random(C) + 0.5
    y, cache = plain.batchnorm_forward(x, gamma, beta, eps=1e-5)
    dy = rng.standard_normal(shape)
    dx, dgamma, dbeta = plain.batchnorm_backward(dy, cache)
    new_rm, new_rv = plain.batchnorm_update_running(rm, rv, cache, 0.1)
    xt, gt, bt = t(torch, x, True), t(torch, gamma, True), t(torch, beta, True)
    rmt, rvt = t(torch, rm), t(torch, rv)
    yt = F.batch_norm(xt, rmt, rvt, gt, bt, training=True, momentum=0.1, eps=1e-5)
    yt.backward(t(torch, dy))
    for mine, theirs in [(y, yt), (dx, xt.grad), (dgamma, gt.grad), (dbeta, bt.grad), (new_rm, rmt), (new_rv, rvt)]:
        close(mine, theirs)
    y, cache = plain.batchnorm_eval_forward(x, gamma, beta, rm, rv, 1e-5)
    dx, dgamma, dbeta = plain.batchnorm_eval_backward(dy, cache)
    xt, gt, bt = t(torch, x, True), t(torch, gamma, True), t(torch, beta, True)
    yt = F.batch_norm(xt, t(torch, rm), t(torch, rv), gt, bt, training=False, eps=1e-5)
    yt.backward(t(torch, dy))
    for mine, theirs in [(y, yt), (dx, xt.grad), (dgamma, gt.grad), (dbeta, bt.grad)]:
        close(mine, theirs)


def test_relu_linear_and_loss_against_torch():
    torch, F = _torch()
    rng = np.random.default_rng(23)
    x, w, b = rng.standard_normal((5, 6)), rng.standard_normal((3, 6)), rng.standard_normal(3)
    labels = np.array([0, 2, 1, 2, 2])
    weights = np.array([2.0, 0.5, 1.0])
    h, relu_cache = plain.relu_forward(x)
    logits, linear_cache = plain.linear_forward(h, w, b)
    loss, dlogits = plain.softmax_cross_entropy(logits, labels, weights)
    dh, dw, db = plain.linear_backward(dlogits, linear_cache)
    dx = plain.relu_backward(dh, relu_cache)
    xt, wt, bt = t(torch, x, True), t(torch, w, True), t(torch, b, True)
    losst = F.cross_entropy(F.linear(F.relu(xt), wt, bt), torch.tensor(labels), weight=t(torch, weights))
    losst.backward()
    assert loss == pytest.approx(losst.item(), rel=1e-12)
    close(dx, xt.grad)
    close(dw, wt.grad)
    close(db, bt.grad)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_step_against_torch(nesterov):
    torch, _ = _torch()
    rng = np.random.default_rng(24)
    param = rng.standard_normal(7)
    pt = t(torch, param, True)
    opt = torch.optim.SGD([pt], lr=0.05, momentum=0.9, nesterov=nesterov, weight_decay=0.01)
    velocity = None
    for _ in range(3):
        grad = rng.standard_normal(7)
        param, velocity = plain.sgd_step(param, grad, velocity, 0.05, 0.9, nesterov, 0.01)
        pt.grad = t(torch, grad)
        opt.step()
    close(param, pt)
