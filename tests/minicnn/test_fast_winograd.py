"""Winograd convolution (``minicnn/fast/winograd.py``): the matrices satisfy the identity exactly, and the
convolution, forward and backward, equals the plain tier's im2col + GEMM (float64 to 1e-12; float32 within the
few roundings the transforms add, measured here against a float64 reference)."""
import numpy as np
import pytest

from minicnn import fast, plain
from minicnn.fast import conv as fast_conv, threads, winograd


@pytest.mark.parametrize("m, r", [(2, 3), (3, 3), (4, 3), (2, 5), (2, 2), (5, 2)])
def test_one_dimensional_identity_holds_exactly(m, r):
    """A^T [(G g) * (B^T d)] = the correlation y[i] = sum_k d[i + k] g[k], for every basis d and g."""
    AT, G, BT = winograd.winograd_matrices(m, r)
    a = m + r - 1
    for s in range(a):
        for k in range(r):
            d, g = np.eye(a)[s], np.eye(r)[k]
            expected = [1.0 if s == i + k else 0.0 for i in range(m)]
            np.testing.assert_allclose(AT @ ((G @ g) * (BT @ d)), expected, rtol=0, atol=1e-13)


def test_tile_too_large_is_refused():
    with pytest.raises(ValueError, match="F\\(4, 5\\)"):
        winograd.winograd_matrices(4, 5)


def test_known_matrix_for_f2_3():
    """Lavin and Gray's B^T for F(2, 3) (rows may differ in sign with other point orders; these points give these)."""
    _, _, BT = winograd.winograd_matrices(2, 3)
    np.testing.assert_array_equal(BT, [[-1, 0, 1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, -1, 0, 1]])


def test_choose_tile():
    assert winograd.choose_tile(5, 27, 27) == 2  # conv2
    assert winograd.choose_tile(3, 13, 13) == 0  # 3x3 measured no faster: im2col
    assert winograd.choose_tile(5, 1, 1) == 0  # one output: nothing to gain


CASES = [  # (N, C, H, W), F, padding, bias
    ((3, 5, 27, 27), 7, 2, False),  # conv2's geometry, small
    ((2, 3, 9, 12), 4, ((2, 1), (0, 2)), True),  # odd output sizes, asymmetric padding: extra rows and columns
    ((5, 2, 9, 6), 3, 0, True),  # a 5x2 output: half the last tile column is outside
]


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("x_shape, F, padding, bias", CASES)
def test_winograd_conv_equals_plain_in_float64(x_shape, F, padding, bias, n_threads):
    threads.set_threads(n_threads)
    try:
        rng = np.random.default_rng(7)
        x = rng.standard_normal(x_shape)
        w = rng.standard_normal((F, x_shape[1], 5, 5))
        b = rng.standard_normal(F) if bias else None
        y_p, cache_p = plain.conv2d_forward(x, w, b, 1, padding)
        y_f, cache_f = fast.conv2d_forward(x, w, b, 1, padding)
        assert cache_f.tile == 2 and cache_f.x_pad_shape == cache_p.x_pad_shape
        np.testing.assert_allclose(y_f, y_p, rtol=0, atol=1e-12 * np.abs(y_p).max())
        dy = rng.standard_normal(y_p.shape)
        for grad_p, grad_f in zip(plain.conv2d_backward(dy, cache_p), fast.conv2d_backward(dy, cache_f)):
            if grad_p is None:
                assert grad_f is None
                continue
            assert grad_f.shape == grad_p.shape
            np.testing.assert_allclose(grad_f, grad_p, rtol=0, atol=1e-12 * np.abs(grad_p).max())
        buffer = np.full_like(w, np.nan)
        dx, dw, _ = fast.conv2d_backward_into(buffer, dy, cache_f, need_dx=False)
        assert dx is None and dw is buffer
        np.testing.assert_allclose(dw, plain.conv2d_backward(dy, cache_p)[1], rtol=0, atol=1e-12 * np.abs(dw).max())
    finally:
        threads.set_threads(None)


def test_float32_error_is_a_few_roundings(monkeypatch):
    """On conv2's shapes (C = 96) the float32 Winograd result stays within a few float32 roundings of the float64
    truth: max error / max |y| below 3e-5 for y, dx and dw, and within 100x of float32 im2col's own error.

    Measured (seed 8): Winograd 3.6e-6, 1.9e-6, 1.1e-5 for y, dx, dw against im2col's 3.9e-7, 1.7e-7, 4.1e-7 on an
    AMD EPYC (Zen 3, OpenBLAS Haswell kernel); dw is the largest because it sums 1458 products per weight through
    transforms whose entries reach 5 (B^T) and 2 (A^T). The bound depends on the BLAS's summation order, so it has margin."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 96, 27, 27))
    w = rng.standard_normal((8, 96, 5, 5)) * 0.05
    dy = rng.standard_normal((2, 8, 27, 27))
    y64, cache64 = plain.conv2d_forward(x, w, None, 1, 2)
    truth = (y64,) + plain.conv2d_backward(dy, cache64)[:2]
    y32, cache32 = fast.conv2d_forward(x.astype(np.float32), w.astype(np.float32), None, 1, 2)
    assert cache32.tile == 2
    got = (y32,) + fast.conv2d_backward(dy.astype(np.float32), cache32)[:2]
    with monkeypatch.context() as m:
        m.setattr(fast_conv, "USE_WINOGRAD", False)
        y32_im2col, cache_im2col = fast.conv2d_forward(x.astype(np.float32), w.astype(np.float32), None, 1, 2)
        im2col = (y32_im2col,) + fast.conv2d_backward(dy.astype(np.float32), cache_im2col)[:2]
    for t, g, i in zip(truth, got, im2col):
        assert g.dtype == np.float32
        error, im2col_error = np.abs(g - t).max() / np.abs(t).max(), np.abs(i - t).max() / np.abs(t).max()
        assert error < 3e-5 and error < 100 * im2col_error


def test_switch_off_uses_im2col(monkeypatch):
    monkeypatch.setattr(fast_conv, "USE_WINOGRAD", False)
    x = np.ones((1, 1, 8, 8))
    _, cache = fast.conv2d_forward(x, np.ones((1, 1, 5, 5)), None, 1, 2)
    assert cache.tile == 0 and cache.x_pad.shape == (1, 1, 12, 12)
