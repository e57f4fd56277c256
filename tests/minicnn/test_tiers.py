"""The two tiers agree: every fast function equals its plain twin - forward, cache-driven backward, every
gradient - to rounding, on awkward shapes; a whole AlexNet-BN-like training step gives the same loss, gradients,
parameters and running statistics under either tier; and the tier switch does what it says.
"""
import copy

import numpy as np
import pytest

import minicnn
from minicnn import fast, plain, tiers
from minicnn.layers import BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential
from minicnn.optim import SGD

TOL = {np.float64: 1e-12, np.float32: 2e-5}
DTYPES = [np.float64, np.float32]


def same(plain_value, fast_value, dtype):
    """Equal to rounding, relative to the largest entry (sums in another order differ in the last bits)."""
    if plain_value is None or fast_value is None:
        assert plain_value is None and fast_value is None
        return
    plain_value, fast_value = np.asarray(plain_value), np.asarray(fast_value)
    assert plain_value.shape == fast_value.shape and plain_value.dtype == fast_value.dtype
    scale = max(1.0, float(np.abs(plain_value).max(initial=0.0)))
    np.testing.assert_allclose(fast_value, plain_value, rtol=0, atol=TOL[dtype] * scale)


def both(name, *args, **kwargs):
    """Run ``name`` in both tiers on copies of the same arguments: (plain result, fast result)."""
    return (getattr(plain, name)(*copy.deepcopy(args), **kwargs),
            getattr(fast, name)(*copy.deepcopy(args), **kwargs))


CONV_CASES = [  # (N, C, H, W), (F, KH, KW), stride, padding, bias
    ((3, 2, 9, 8), (4, 3, 3), 2, ((1, 1), (2, 1)), True),
    ((1, 1, 24, 28), (5, 11, 11), 4, ((2, 1), (2, 1)), True),  # AlexNet's conv1 geometry, batch 1
    ((2, 3, 7, 5), (3, 5, 3), (1, 2), (2, 1), False),
    ((5, 2, 32, 32), (3, 3, 3), 1, 1, True),  # 1024 rows a sample: the fast tier goes in two blocks of samples
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, stride, padding, bias", CONV_CASES)
def test_conv2d(dtype, x_shape, w_shape, stride, padding, bias):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((w_shape[0], x_shape[1]) + w_shape[1:]).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype) if bias else None
    (y_p, cache_p), (y_f, cache_f) = both("conv2d_forward", x, w, b, stride, padding)
    same(y_p, y_f, dtype)
    dy = rng.standard_normal(y_p.shape).astype(dtype)
    for grads_p, grads_f in zip(plain.conv2d_backward(dy, cache_p), fast.conv2d_backward(dy, cache_f)):
        same(grads_p, grads_f, dtype)
    buffer = np.full_like(w, np.nan)  # every entry must be overwritten
    dx_p, dw_p, _ = plain.conv2d_backward(dy, cache_p, need_dx=False)
    dx_f, dw_f, _ = fast.conv2d_backward_into(buffer, dy, cache_f, need_dx=False)
    assert dx_p is None and dx_f is None and dw_f is buffer
    same(dw_p, buffer, dtype)


@pytest.mark.parametrize("KH, KW, SH, SW", [(3, 3, 1, 1), (11, 11, 4, 4), (5, 3, 2, 3), (1, 1, 1, 1)])
def test_im2col_and_col2im(KH, KW, SH, SW):
    """The plain helpers against the fast leaves: equal values (the fast cols is stored column-major)."""
    from minicnn.fast import conv as fast_conv
    from minicnn.plain import conv as plain_conv

    rng = np.random.default_rng(12)
    Hp, Wp = KH + 2 * SH + 1, KW + 3 * SW
    H_out, W_out = (Hp - KH) // SH + 1, (Wp - KW) // SW + 1
    geometry = (KH, KW, SH, SW, H_out, W_out)
    x_pad = rng.standard_normal((3, 2, Hp, Wp))
    np.testing.assert_array_equal(plain_conv.im2col(x_pad, *geometry), fast_conv.im2col(x_pad, *geometry))
    dcols = rng.standard_normal((3 * H_out * W_out, 2 * KH * KW))
    same(plain_conv.col2im(dcols, x_pad.shape, *geometry), fast_conv.col2im(dcols, x_pad.shape, *geometry),
         np.float64)


POOL_CASES = [((2, 3, 9, 11), 3, 2, ((1, 1), (0, 0))), ((1, 2, 55, 55), 3, 2, 0), ((2, 1, 6, 8), (2, 4), (2, 4), 0),
              ((3, 2, 7, 7), 3, 1, 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, kernel_size, stride, padding", POOL_CASES)
def test_pools(dtype, x_shape, kernel_size, stride, padding):
    rng = np.random.default_rng(2)
    x = rng.integers(-3, 4, x_shape).astype(dtype)  # ties everywhere: the first maximum must win in both tiers
    for op in ("maxpool2d", "avgpool2d"):
        (y_p, cache_p), (y_f, cache_f) = both(f"{op}_forward", x, kernel_size, stride, padding)
        if op == "maxpool2d":
            np.testing.assert_array_equal(cache_p.argmax, cache_f.argmax)
            np.testing.assert_array_equal(y_p, y_f)
        same(y_p, y_f, dtype)
        dy = rng.standard_normal(y_p.shape).astype(dtype)
        same(getattr(plain, f"{op}_backward")(dy, cache_p), getattr(fast, f"{op}_backward")(dy, cache_f), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu(dtype):
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, (3, 4, 5, 7)).astype(dtype)  # exact zeros: the derivative there is 0 in both
    (y_p, cache_p), (y_f, cache_f) = both("relu_forward", x)
    np.testing.assert_array_equal(y_p, y_f)
    dy = rng.standard_normal(x.shape).astype(dtype)
    np.testing.assert_array_equal(plain.relu_backward(dy, cache_p), fast.relu_backward(dy, cache_f))


BN_SHAPES = [(2, 3), (1, 4, 1, 2), (7, 3, 5, 4), (9, 2, 130, 130), (300, 5)]  # M = 2, 2, 140, 152100, 300


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batchnorm(dtype, shape):
    """(9, 2, 130, 130) float64 is 270 KB a sample: the fast tier goes in three blocks of samples."""
    rng = np.random.default_rng(4)
    x = (3 * rng.standard_normal(shape) + 5).astype(dtype)
    C = shape[1]
    gamma, beta = rng.uniform(0.5, 2, C).astype(dtype), rng.standard_normal(C).astype(dtype)
    running_mean, running_var = rng.standard_normal(C).astype(dtype), rng.uniform(0.5, 2, C).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    (y_p, cache_p), (y_f, cache_f) = both("batchnorm_forward", x, gamma, beta, 1e-5)
    same(y_p, y_f, dtype)
    for a, b in zip(plain.batchnorm_backward(dy, cache_p), fast.batchnorm_backward(dy, cache_f)):
        same(a, b, dtype)
    for a, b in zip(plain.batchnorm_update_running(running_mean, running_var, cache_p, 0.1),
                    fast.batchnorm_update_running(running_mean, running_var, cache_f, 0.1)):
        same(a, b, dtype)
    (y_p, cache_p), (y_f, cache_f) = both("batchnorm_eval_forward", x, gamma, beta, running_mean, running_var, 1e-5)
    same(y_p, y_f, dtype)
    for a, b in zip(plain.batchnorm_eval_backward(dy, cache_p), fast.batchnorm_eval_backward(dy, cache_f)):
        same(a, b, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_draws_the_same_masks(dtype):
    x = np.random.default_rng(5).standard_normal((3, 4097)).astype(dtype)
    (y_p, cache_p), (y_f, cache_f) = both("dropout_forward", x, 0.6, np.random.default_rng(6))
    np.testing.assert_array_equal(cache_p.mask, cache_f.mask)
    np.testing.assert_array_equal(y_p, y_f)
    np.testing.assert_array_equal(plain.dropout_backward(x, cache_p), fast.dropout_backward(x, cache_f))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear(dtype, bias):
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((1, 9)).astype(dtype), rng.standard_normal((5, 9)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype) if bias else None
    (y_p, cache_p), (y_f, cache_f) = both("linear_forward", x, w, b)
    same(y_p, y_f, dtype)
    dy = rng.standard_normal(y_p.shape).astype(dtype)
    for a, b_ in zip(plain.linear_backward(dy, cache_p), fast.linear_backward(dy, cache_f)):
        same(a, b_, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weights", [None, [0.5, 3.0, 1.0]])
def test_softmax_cross_entropy(dtype, weights):
    rng = np.random.default_rng(8)
    logits, labels = (4 * rng.standard_normal((11, 3))).astype(dtype), rng.integers(0, 3, 11)
    (loss_p, d_p), (loss_f, d_f) = both("softmax_cross_entropy", logits, labels,
                                        None if weights is None else np.array(weights, dtype))
    assert loss_f == pytest.approx(loss_p, rel=TOL[dtype])
    same(d_p, d_f, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum, nesterov, l2", [(0.0, False, 0.0), (0.9, False, 0.0), (0.9, True, 1e-2)])
def test_sgd_step(dtype, momentum, nesterov, l2):
    """Three steps on a parameter larger than one of the fast tier's blocks (65536 numbers)."""
    rng = np.random.default_rng(9)
    param = rng.standard_normal((300, 301)).astype(dtype)
    state = {"plain": (param.copy(), None), "fast": (param.copy(), None)}
    for _ in range(3):
        grad = rng.standard_normal(param.shape).astype(dtype)
        for name, module in (("plain", plain), ("fast", fast)):
            p, v = state[name]
            state[name] = module.sgd_step(p, grad.copy(), v, 0.05, momentum, nesterov, l2)
    for a, b in zip(state["plain"], state["fast"]):
        same(a, b, dtype)


def test_both_tiers_offer_the_same_functions():
    import inspect

    for name in plain.OPS:
        assert inspect.signature(getattr(plain, name)) == inspect.signature(getattr(fast, name)), name
        assert not any(p.endswith("_out") for p in inspect.signature(getattr(plain, name)).parameters), name
    for name in ("conv2d_backward", "linear_backward"):  # the fast tier's extra: the same with dw passed first
        into = list(inspect.signature(getattr(fast, name + "_into")).parameters.values())
        assert into[0].name == "dw" and into[1:] == list(inspect.signature(getattr(plain, name)).parameters.values())


# --- the tier switch and a whole training step --------------------------------------------------------------------
def alexnet_bn_like(dtype, seed=0):
    """AlexNet-BN's shape at a small size: conv1 11x11 stride 4 with asymmetric padding, BN after conv1 and
    conv2, overlapping 3x3 stride-2 pools, L2 on conv3-5, dropout 0.6 after fc6 and fc7, 2 classes."""
    rng = np.random.default_rng(seed)
    model = Sequential(
        Conv2d(1, 8, 11, 4, ((2, 1), (2, 1)), bias=False, rng=rng), BatchNorm2d(8), ReLU(), MaxPool2d(3, 2),  # 64->15->7
        Conv2d(8, 12, 5, 1, 2, bias=False, rng=rng), BatchNorm2d(12), ReLU(), MaxPool2d(3, 2),  # 7 -> 3
        Conv2d(12, 16, 3, 1, 1, l2=1e-2, rng=rng), ReLU(),
        Conv2d(16, 16, 3, 1, 1, l2=1e-2, rng=rng), ReLU(),
        Conv2d(16, 12, 3, 1, 1, l2=1e-2, rng=rng), ReLU(), MaxPool2d(3, 2),  # 3 -> 1
        Flatten(), Linear(12, 32, rng=rng), ReLU(), Dropout(0.6, rng=np.random.default_rng(seed + 1)),
        Linear(32, 32, rng=rng), BatchNorm1d(32), ReLU(), Dropout(0.6, rng=np.random.default_rng(seed + 2)),
        Linear(32, 2, rng=rng),
    ).astype(dtype)
    model.needs_input_grad = False  # as in training: no gradient for the image
    return model


def training_step(model, x, labels):
    """One step of Nesterov SGD with class weights (``minicnn.train_step``), then the logits in evaluation mode."""
    step = minicnn.train_step(model, SGD(model, lr=0.01, momentum=0.9, nesterov=True), x, labels, [1.0, 2.0])
    return step.loss, model.forward(x, train=False)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 2e-4)])
def test_one_training_step_is_the_same_under_both_tiers(dtype, tol, monkeypatch):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((5, 1, 64, 64)).astype(dtype)
    labels = rng.integers(0, 2, 5)
    model_plain, model_fast = alexnet_bn_like(dtype), alexnet_bn_like(dtype)
    calls = set()
    for name in plain.OPS:  # every plain function must take part, and no fast one
        original = getattr(plain, name)
        monkeypatch.setattr(plain, name, lambda *a, _f=original, _n=name, **k: calls.add(_n) or _f(*a, **k))
        monkeypatch.setattr(fast, name, lambda *a, _n=name, **k: pytest.fail(f"fast.{_n} called in the plain tier"))
    with minicnn.tier("plain"):
        loss_plain, eval_plain = training_step(model_plain, x, labels)
    unused = {"avgpool2d_forward", "avgpool2d_backward", "batchnorm_eval_backward"}  # no average pooling, no
    assert calls == set(plain.OPS) - unused  # backward in evaluation mode
    monkeypatch.undo()
    loss_fast, eval_fast = training_step(model_fast, x, labels)
    assert loss_fast == pytest.approx(loss_plain, rel=tol)
    np.testing.assert_allclose(eval_fast, eval_plain, rtol=tol, atol=tol)
    compared = 0
    for (path, a), (_, b) in zip(model_plain.named_layers(), model_fast.named_layers()):
        for store in ("params", "grads", "buffers"):
            for key, value in getattr(a, store).items():
                other = getattr(b, store)[key]
                scale = max(1.0, float(np.abs(value).max()))
                np.testing.assert_allclose(other, value, rtol=0, atol=tol * scale, err_msg=f"{path}.{store}.{key}")
                compared += 1
    assert compared == 20 + 20 + 6  # 20 parameters, their gradients, 3 batch norms' running mean and variance


def test_tier_switch():
    assert minicnn.get_tier() == "fast"  # the default
    with minicnn.tier("plain") as module:
        assert module is plain and tiers.ops() is plain and minicnn.get_tier() == "plain"
    assert minicnn.get_tier() == "fast"
    with pytest.raises(RuntimeError), minicnn.tier("plain"):
        raise RuntimeError("the previous tier comes back even after an error")
    assert minicnn.get_tier() == "fast"
    minicnn.set_tier("plain")
    try:
        assert tiers.ops() is plain
    finally:
        minicnn.set_tier("fast")
    with pytest.raises(ValueError, match=r"expected one of \['fast', 'plain'\], got 'slow'"):
        minicnn.set_tier("slow")


def test_a_layer_runs_its_backward_in_the_tier_of_its_forward():
    """A forward inside ``with tier("plain")`` and a backward after it: the plain cache goes to the plain backward."""
    rng = np.random.default_rng(11)
    layer = Conv2d(2, 3, 3, padding=1, rng=rng, dtype=np.float64)
    x = rng.standard_normal((2, 2, 5, 5))
    with minicnn.tier("plain"):
        y = layer.forward(x)
    assert isinstance(layer._cache, plain.ConvCache)
    dx = layer.backward(np.ones_like(y))
    y_fast = layer.forward(x)
    assert isinstance(layer._cache, fast.FastConvCache)
    np.testing.assert_allclose(y_fast, y, atol=1e-12)
    np.testing.assert_allclose(layer.backward(np.ones_like(y)), dx, atol=1e-12)
