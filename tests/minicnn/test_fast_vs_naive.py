"""The vectorised conv and max pool against the literal loop versions in minicnn.naive (float32 and float64)."""
import numpy as np
import pytest

from minicnn import naive
from minicnn._geometry import pad2d
from minicnn.layers import Conv2d, MaxPool2d
from minicnn.fast.conv import col2im, im2col


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("k, stride, padding, hw", [(3, 1, 1, (5, 7)), (11, 4, ((2, 1), (2, 1)), (24, 20)),
                                                    ((5, 3), (2, 3), ((2, 2), (1, 0)), (9, 8))])
def test_conv_against_naive(dtype, tol, k, stride, padding, hw):
    rng = np.random.default_rng(20)
    layer = Conv2d(3, 4, k, stride, padding, rng=rng, dtype=dtype)
    layer.params["bias"][...] = rng.standard_normal(4)
    x = rng.standard_normal((2, 3, *hw)).astype(dtype)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dy)
    x_pad = pad2d(x, layer.padding)
    np.testing.assert_allclose(y, naive.conv2d_forward(x_pad, layer.params["weight"], layer.params["bias"], layer.stride),
                               rtol=tol, atol=tol)
    dx_pad, dW, db = naive.conv2d_backward(dy, x_pad, layer.params["weight"], layer.stride)
    (top, _), (left, _) = layer.padding
    np.testing.assert_allclose(dx, dx_pad[:, :, top:top + hw[0], left:left + hw[1]], rtol=tol, atol=tol)
    np.testing.assert_allclose(layer.grads["weight"], dW, rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(layer.grads["bias"], db, rtol=tol, atol=tol * 10)


def test_im2col_layout_and_col2im_adjoint():
    """cols[(n, i, j), (c, p, q)] = x_pad[n, c, i*SH + p, j*SW + q], and <im2col(x), g> = <x, col2im(g)>."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal((2, 3, 7, 8))
    cols = im2col(x, 3, 2, 2, 3, 3, 3)
    assert cols.shape == (2 * 3 * 3, 3 * 3 * 2)
    n, i, j, c, p, q = 1, 2, 1, 2, 1, 0
    assert cols[n * 9 + i * 3 + j, c * 6 + p * 2 + q] == x[n, c, i * 2 + p, j * 3 + q]
    g = rng.standard_normal(cols.shape)
    lhs = float((cols * g).sum())
    rhs = float((x * col2im(g, x.shape, 3, 2, 2, 3, 3, 3)).sum())
    assert abs(lhs - rhs) < 1e-10 * abs(lhs)


@pytest.mark.parametrize("k, stride, padding, hw", [(3, 2, 0, (13, 13)), (3, 2, 1, (9, 11)), (2, 2, 0, (6, 8))])
def test_maxpool_against_naive_with_ties(k, stride, padding, hw):
    rng = np.random.default_rng(22)
    x = rng.integers(-3, 4, (2, 3, *hw)).astype(np.float32)  # many ties
    layer = MaxPool2d(k, stride, padding)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(dy)
    x_pad = pad2d(x, layer.padding, value=-np.inf)
    y_ref, argmax_ref = naive.maxpool_forward(x_pad, layer.kernel_size, layer.stride)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(layer._cache.argmax, argmax_ref)
    dx_ref = naive.maxpool_backward(dy, argmax_ref, x_pad.shape, layer.kernel_size, layer.stride)
    (top, _), (left, _) = layer.padding
    np.testing.assert_allclose(dx, dx_ref[:, :, top:top + hw[0], left:left + hw[1]], rtol=1e-6, atol=1e-6)


def test_maxpool_hand_computed():
    x = np.array([[[[1, 5, 5, 0],
                    [2, 5, 3, 1],
                    [0, 1, 4, 4],
                    [6, 1, 4, 2]]]], dtype=np.float32)
    layer = MaxPool2d(2)
    np.testing.assert_array_equal(layer.forward(x)[0, 0], [[5, 5], [6, 4]])
    dx = layer.backward(np.array([[[[1, 2], [3, 4]]]], dtype=np.float32))
    np.testing.assert_array_equal(dx[0, 0], [[0, 1, 2, 0],  # ties: the first maximum (row-major) takes the gradient
                                             [0, 0, 0, 0],
                                             [0, 0, 4, 0],
                                             [3, 0, 0, 0]])
