"""The CPU fast paths against the plain expressions they replace (and minicnn.naive where it applies).

Each fast path - column-major im2col/col2im, conv in blocks of samples, the branch-free max-pool walk, the
multiply-by-mask ReLU and max-pool backward, blocked batch norm and SGD, reused gradient buffers, skipped
input gradients - must give what the straightforward code gives, including the awkward inputs (ties, NaN,
inf, blocks that do not divide the batch).
"""
import numpy as np
import pytest

from minicnn import naive
from minicnn._geometry import cache_blocks, pad2d, windows
from minicnn.layers import BatchNorm1d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
from minicnn.fast import batchnorm as bn
from minicnn.fast import conv as fast_conv
from minicnn.fast.activations import relu_backward_apply
from minicnn.fast.conv import col2im, im2col
from minicnn.fast.pool import maxpool_backward, maxpool_forward
from minicnn.optim import SGD


# --- im2col / col2im ----------------------------------------------------------------------------------------------
def _im2col_reference(x_pad, KH, KW, SH, SW, H_out, W_out):
    N, C = x_pad.shape[:2]
    return windows(x_pad, KH, KW, SH, SW).transpose(0, 2, 3, 1, 4, 5).reshape(N * H_out * W_out, C * KH * KW)


def _col2im_reference(dcols, x_pad_shape, KH, KW, SH, SW, H_out, W_out):
    N, C = x_pad_shape[:2]
    n, i, j, c, p, q = np.indices((N, H_out, W_out, C, KH, KW)).reshape(6, -1)
    dx_pad = np.zeros(x_pad_shape, dtype=dcols.dtype)
    np.add.at(dx_pad, (n, c, i * SH + p, j * SW + q), dcols.reshape(-1))
    return dx_pad


GEOMETRIES = [(3, 3, 1, 1), (11, 11, 4, 4), (5, 3, 2, 3), (1, 1, 1, 1)]


@pytest.mark.parametrize("KH, KW, SH, SW", GEOMETRIES)
def test_im2col_and_col2im_match_the_plain_versions(KH, KW, SH, SW):
    rng = np.random.default_rng(40)
    Hp, Wp = KH + 2 * SH + 1, KW + 3 * SW
    H_out, W_out = (Hp - KH) // SH + 1, (Wp - KW) // SW + 1
    x_pad = rng.standard_normal((3, 2, Hp, Wp)).astype(np.float32)
    np.testing.assert_array_equal(im2col(x_pad, KH, KW, SH, SW, H_out, W_out),
                                  _im2col_reference(x_pad, KH, KW, SH, SW, H_out, W_out))
    dcols = rng.standard_normal((3 * H_out * W_out, 2 * KH * KW))
    expected = _col2im_reference(dcols, x_pad.shape, KH, KW, SH, SW, H_out, W_out)
    for layout in (dcols, np.asfortranarray(dcols)):  # any memory order is correct; column-major is the fast one
        np.testing.assert_allclose(col2im(layout, x_pad.shape, KH, KW, SH, SW, H_out, W_out), expected, atol=1e-12)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_conv_in_blocks_of_samples_matches_naive(dtype, tol, monkeypatch):
    """Blocks of 2 samples over a batch of 5: the last block is short."""
    monkeypatch.setattr(fast_conv, "sample_blocks",
                        lambda N, rows_per_sample, row_bytes: [slice(s, s + 2) for s in range(0, N, 2)])
    rng = np.random.default_rng(41)
    layer = Conv2d(3, 4, 3, 2, ((1, 1), (2, 1)), rng=rng, dtype=dtype, l2=0.1)
    layer.params["bias"][...] = rng.standard_normal(4)
    x = rng.standard_normal((5, 3, 9, 8)).astype(dtype)
    y = layer.forward(x)
    x_pad = pad2d(x, layer.padding)
    np.testing.assert_allclose(y, naive.conv2d_forward(x_pad, layer.params["weight"], layer.params["bias"],
                                                       layer.stride), rtol=tol, atol=tol)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dy)
    dx_pad, dW, db = naive.conv2d_backward(dy, x_pad, layer.params["weight"], layer.stride)
    assert dx.flags.c_contiguous
    np.testing.assert_allclose(dx, dx_pad[:, :, 1:10, 2:10], rtol=tol, atol=tol)
    np.testing.assert_allclose(layer.grads["weight"], dW + 0.1 * layer.params["weight"], rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(layer.grads["bias"], db, rtol=tol, atol=tol * 10)


def test_default_blocks_cover_the_batch_once():
    blocks = fast_conv.sample_blocks(33, 27 * 27, 96 * 5 * 5 * 4)  # conv2: 96 -> 256, 5x5, float32
    assert [i for b in blocks for i in range(33)[b]] == list(range(33))
    assert len(blocks) > 1  # 33 images of conv2's cols would be 230 MB


# --- gradient buffers and needs_input_grad ------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda rng: (Conv2d(2, 3, 3, rng=rng, dtype=np.float64), (2, 2, 5, 5)),
                                  lambda rng: (Linear(4, 3, rng=rng, dtype=np.float64), (5, 4))])
def test_gradients_are_written_into_last_steps_buffer_and_still_correct(make):
    rng = np.random.default_rng(42)
    layer, shape = make(rng)
    fresh, _ = make(np.random.default_rng(42))
    for step in range(2):
        x = rng.standard_normal(shape)
        y = layer.forward(x)
        dy = rng.standard_normal(y.shape)
        dx = layer.backward(dy)
        buffer = layer.grads["weight"]
        fresh.forward(x)
        np.testing.assert_allclose(fresh.backward(dy), dx, atol=1e-12)
        np.testing.assert_allclose(buffer, fresh.grads["weight"], atol=1e-12)
        fresh.grads.clear()  # a brand-new buffer every time on this one
        if step == 0:
            first_buffer = buffer
    assert layer.grads["weight"] is first_buffer
    layer.astype(np.float32)  # a new dtype: a new buffer
    layer.forward(rng.standard_normal(shape).astype(np.float32))
    layer.backward(rng.standard_normal(y.shape).astype(np.float32))
    assert layer.grads["weight"].dtype == np.float32


def test_needs_input_grad_skips_dx_but_not_the_parameter_gradients():
    rng = np.random.default_rng(43)

    def model():
        r = np.random.default_rng(7)
        return Sequential(Sequential(Conv2d(1, 2, 3, rng=r, dtype=np.float64), ReLU()), Flatten(),
                          Linear(2 * 4 * 4, 2, rng=r, dtype=np.float64))

    full, lean = model(), model()
    lean.needs_input_grad = False  # reaches the Conv2d inside the nested Sequential
    assert lean[0][0].needs_input_grad is False and lean[0].needs_input_grad is False
    assert full.needs_input_grad and full[0][0].needs_input_grad
    x = rng.standard_normal((3, 1, 6, 6))
    dy = rng.standard_normal((3, 2))
    full.forward(x), lean.forward(x)
    assert full.backward(dy).shape == x.shape
    assert lean.backward(dy) is None
    for (a, key), (b, _) in zip(full.parameters(), lean.parameters()):
        np.testing.assert_allclose(b.grads[key], a.grads[key], atol=1e-12)
    lean.check_finite = True  # a None input gradient is not a non-finite one
    lean.forward(x)
    assert lean.backward(dy) is None
    lin = Linear(3, 2)
    lin.needs_input_grad = False
    lin.forward(np.ones((2, 3), np.float32))
    assert lin.backward(np.ones((2, 2), np.float32)) is None and lin.grads["weight"].shape == (2, 3)


# --- max pooling and ReLU -------------------------------------------------------------------------------------------
def _maxpool_strict_walk(x_pad, KH, KW, SH, SW):
    """The defining walk: strict '>' over the offsets in row-major order, a select for y and for argmax."""
    patches = windows(x_pad, KH, KW, SH, SW)
    y = patches[..., 0, 0].copy()
    argmax = np.zeros(y.shape, dtype=np.int32)
    for k in range(1, KH * KW):
        candidate = patches[..., k // KW, k % KW]
        better = candidate > y
        y = np.where(better, candidate, y)
        argmax = np.where(better, k, argmax)
    return y, argmax


@pytest.mark.parametrize("specials", [[], [np.nan], [np.inf, -np.inf], [np.nan, np.inf, -np.inf]])
@pytest.mark.parametrize("KH, KW, SH, SW", [(3, 3, 2, 2), (2, 2, 2, 2), (3, 2, 1, 2)])
def test_maxpool_forward_matches_the_strict_walk(specials, KH, KW, SH, SW):
    rng = np.random.default_rng(44)
    x = rng.integers(-2, 3, (3, 2, 9, 10)).astype(np.float32)  # many ties
    if specials:
        spots = rng.random(x.shape) < 0.1
        x[spots] = rng.choice(specials, spots.sum())
        x[0, 0, 0, 0] = specials[0]  # a special at offset 0 of a window
    x_pad = pad2d(x, ((1, 1), (1, 1)), value=-np.inf)
    H_out, W_out = (x_pad.shape[2] - KH) // SH + 1, (x_pad.shape[3] - KW) // SW + 1
    y, argmax = maxpool_forward(x_pad, KH, KW, SH, SW, H_out, W_out)
    y_ref, argmax_ref = _maxpool_strict_walk(x_pad, KH, KW, SH, SW)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    assert argmax.dtype == np.int32


@pytest.mark.parametrize("special", [None, np.inf, np.nan])
def test_maxpool_backward_matches_naive_and_the_select(special):
    rng = np.random.default_rng(45)
    x_pad = rng.integers(-2, 3, (2, 3, 11, 11)).astype(np.float32)
    _, argmax = naive.maxpool_forward(x_pad, (3, 3), (2, 2))
    dy = rng.standard_normal(argmax.shape).astype(np.float32)
    if special is not None:
        dy[0, 1, 2, 3] = special
    dx = maxpool_backward(dy, argmax, x_pad.shape, 3, 3, 2, 2)
    expected = np.zeros(x_pad.shape, np.float32)  # the select, one offset at a time
    for k in range(9):
        p, q = divmod(k, 3)
        expected[:, :, p : p + 10 : 2, q : q + 10 : 2] += np.where(argmax == k, dy, np.float32(0))
    np.testing.assert_array_equal(np.isnan(dx), np.isnan(expected))
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-6)
    if special is None:
        np.testing.assert_allclose(dx, naive.maxpool_backward(dy, argmax, x_pad.shape, (3, 3), (2, 2)), atol=1e-6)


def test_maxpool_layer_in_a_network_shape():
    """Overlapping 3x3 stride-2 windows on AlexNet's 55x55 maps (a few channels) against the naive loops."""
    rng = np.random.default_rng(46)
    x = rng.standard_normal((2, 3, 55, 55)).astype(np.float32)
    layer = MaxPool2d(3, 2)
    y = layer.forward(x)
    y_ref, argmax_ref = naive.maxpool_forward(x, (3, 3), (2, 2))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(layer._cache.argmax, argmax_ref)


@pytest.mark.parametrize("special", [None, np.inf, -np.inf, np.nan])
def test_relu_backward_equals_the_select(special):
    rng = np.random.default_rng(47)
    y = np.maximum(rng.standard_normal((4, 3, 5, 5)), 0).astype(np.float32)
    y[0, 0, 0, :2] = 0.0  # the derivative at 0 is 0
    dy = rng.standard_normal(y.shape).astype(np.float32)
    if special is not None:
        dy[y == 0] = special  # where the unit is off: must still give exactly 0
        dy[1, 1, 1, 1] = special
    dx = relu_backward_apply(dy, y)
    expected = np.where(y > 0, dy, np.float32(0))
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(dx), np.isnan(expected))
    np.testing.assert_array_equal(dx[~np.isnan(dx)], expected[~np.isnan(expected)])


# --- batch norm -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("shape", [(7, 3, 5, 4), (9, 2, 130, 130), (300, 5)])
def test_blocked_batch_norm_matches_the_plain_formulas(dtype, tol, shape):
    """(9, 2, 130, 130) float64 is 270 KB a sample: 3 samples a block, 3 blocks; (300, 5) is one block."""
    rng = np.random.default_rng(48)
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    C = shape[1]
    axes = (0,) + tuple(range(2, len(shape)))
    per_channel = (1, C) + (1,) * (len(shape) - 2)
    layer = (BatchNorm2d if len(shape) == 4 else BatchNorm1d)(C, dtype=dtype)
    layer.params["gamma"][...] = rng.uniform(0.5, 2, C)
    layer.params["beta"][...] = rng.standard_normal(C)
    gamma, beta = (layer.params[k].reshape(per_channel) for k in ("gamma", "beta"))
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    np.testing.assert_allclose(bn.channel_sum(x) / (x.size // C), mean, rtol=tol)
    np.testing.assert_allclose(bn.channel_var(x, mean.astype(dtype)), var, rtol=tol * 10)
    x_hat = (x - mean.reshape(per_channel)) / np.sqrt(var.reshape(per_channel) + layer.eps)
    y = layer.forward(x)
    np.testing.assert_allclose(layer._cache.x_hat, x_hat, rtol=tol * 10, atol=tol * 10)
    np.testing.assert_allclose(y, gamma * x_hat + beta, rtol=tol * 10, atol=tol * 10)
    M = x.size // C
    sum_dy, sum_dy_xhat = dy.sum(axis=axes), (dy * x_hat).sum(axis=axes)
    expected = (gamma / np.sqrt(var.reshape(per_channel) + layer.eps) / M) * (
        M * dy - sum_dy.reshape(per_channel) - x_hat * sum_dy_xhat.reshape(per_channel))
    dx = layer.backward(dy)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(dx, expected, atol=tol * 100 * scale)
    bound = tol * 10 * np.abs(dy).sum(axis=axes)  # a sum's rounding grows with the sum of magnitudes
    assert np.all(np.abs(layer.grads["beta"] - sum_dy) <= bound)
    assert np.all(np.abs(layer.grads["gamma"] - sum_dy_xhat) <= bound * np.abs(x_hat).max())


def test_cache_blocks_cover_the_batch():
    x = np.zeros((10, 3, 100, 100))  # 240 KB a sample
    blocks = cache_blocks(x)
    assert len(blocks) == 3 and [i for b in blocks for i in range(10)[b]] == list(range(10))
    assert cache_blocks(np.zeros((2, 5000, 100))) == [slice(0, 1), slice(1, 2)]  # at least one sample


# --- SGD --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_blocked_sgd_matches_the_plain_update(momentum, nesterov):
    """Parameters larger than one block (and one that is not contiguous) against the textbook update."""
    rng = np.random.default_rng(49)
    model = Sequential(Linear(700, 300, rng=rng), Linear(300, 2, rng=rng))
    model[0].params["weight"] = np.asfortranarray(model[0].params["weight"])  # not C-contiguous: no blocks
    params = {(id(layer), key): layer.params[key].copy() for layer, key in model.parameters()}
    velocity = {}
    optimizer = SGD(model, lr=0.05, momentum=momentum, nesterov=nesterov)
    for _ in range(3):
        for layer, key in model.parameters():
            layer.grads[key] = rng.standard_normal(layer.params[key].shape).astype(np.float32)
        optimizer.step()
        for layer, key in model.parameters():
            g, slot = layer.grads[key], (id(layer), key)
            if momentum:
                velocity[slot] = g.copy() if slot not in velocity else momentum * velocity[slot] + g
                step = g + momentum * velocity[slot] if nesterov else velocity[slot]
            else:
                step = g
            params[slot] = params[slot] - np.float32(0.05) * step
            np.testing.assert_allclose(layer.params[key], params[slot], rtol=1e-6, atol=1e-6)
