"""Properties that follow from the batch-norm algebra, checked on random data."""
import numpy as np

from minicnn.layers import BatchNorm2d


def test_train_mode_gradient_invariants():
    """Per channel sum(dx) = 0 and sum(dx * x_hat) = 0: the batch statistics absorb shifts and scalings.

    The second identity is exact for eps = 0; with eps > 0 it is off by
    gamma * inv_std * sum(dy x_hat) * eps / (var + eps) (docs/batchnorm.md, section 2.4).
    """
    rng = np.random.default_rng(30)
    layer = BatchNorm2d(5, eps=0.0, dtype=np.float64)
    layer.params["gamma"][...] = rng.uniform(0.5, 2, 5)
    x = rng.standard_normal((7, 5, 3, 4)) * 3 + 2
    layer.forward(x)
    dx = layer.backward(rng.standard_normal(x.shape))
    x_hat = layer._cache.x_hat
    np.testing.assert_allclose(dx.sum(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose((dx * x_hat).sum(axis=(0, 2, 3)), 0, atol=1e-12)


def test_train_output_is_normalised_and_eval_uses_running_stats():
    rng = np.random.default_rng(31)
    layer = BatchNorm2d(3, eps=0.0, momentum=1.0, dtype=np.float64)
    x = rng.standard_normal((4, 3, 5, 5)) * 4 - 1
    y = layer.forward(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-12)
    # momentum 1: the running statistics are exactly this batch's mean and unbiased variance
    np.testing.assert_allclose(layer.buffers["running_mean"], x.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(layer.buffers["running_var"], x.var(axis=(0, 2, 3), ddof=1))
    y_eval = layer.forward(x, train=False)
    np.testing.assert_allclose(y_eval, y * np.sqrt(99 / 100), atol=1e-12)  # unbiased vs biased variance, M = 100


def test_gamma_beta_can_undo_the_normalisation():
    """Equations (7)-(8): gamma = sqrt(Var[x] + eps), beta = E[x] recover the input exactly."""
    rng = np.random.default_rng(32)
    layer = BatchNorm2d(2, dtype=np.float64)
    x = rng.standard_normal((5, 2, 3, 3)) * [[[[3.0]], [[0.5]]]] + [[[[1.0]], [[-2.0]]]]
    layer.params["gamma"][...] = np.sqrt(x.var(axis=(0, 2, 3)) + layer.eps)
    layer.params["beta"][...] = x.mean(axis=(0, 2, 3))
    np.testing.assert_allclose(layer.forward(x), x, atol=1e-12)
