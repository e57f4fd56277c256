"""The checks of every exercise: ``checks_<name>(module)`` yields ``(description, check)`` pairs.

Each ``check()`` returns a short "ok" text or raises ``CheckFailed`` with what is wrong. The oracles are
independent of the learner's file: minicnn's plain tier (``minicnn.plain``), centred finite differences in
float64 (``minicnn.gradcheck``) and the identities of the chapters (``Σ dx = 0`` for batch normalisation, the
sum of a max-pool gradient equal to the sum of ``dy``). Where a wrong answer has a known form (the unbiased
variance where the biased one belongs, a gradient not divided by the batch), the message names it; formulas and
"what to do" go into the failure's hint, printed only with ``check NAME --hint``.

The learner's module reaches these functions as ``minicnn.exercises.guard.LearnerModule``: every call of one of
its functions is watched (no minicnn code, no framework) and gets copies of its arrays.
"""
from __future__ import annotations

import numpy as np

from minicnn.exercises.checks import CheckFailed, call, compare, same_as_mistake, sentence
from minicnn.gradcheck import numerical_gradient


def _plain():
    from minicnn import plain

    return plain


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _function(module, name: str):
    function = getattr(module, name, None)
    if function is None:
        raise CheckFailed(f"the file defines no function {name}; keep the stub's names")
    return function


_same_as_mistake = same_as_mistake


def _channel_axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


# --- bn_forward -------------------------------------------------------------------------------------------------
def _bn_inputs(shape, seed):
    rng = _rng(seed)
    C = shape[1]
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3.0, (1, C) + (1,) * (len(shape) - 2)) + rng.uniform(-2, 2, (1, C) + (1,) * (len(shape) - 2))
    gamma = rng.uniform(0.5, 2.0, C) * np.where(np.arange(C) % 2, -1.0, 1.0)   # one negative gamma, at least
    beta = rng.standard_normal(C)
    return x, gamma, beta


def _bn_forward_mistakes(x, gamma, beta, eps):
    axes = _channel_axes(x)

    def normalised(mean_axes, ddof=0, eps_where="inside"):
        mu = x.mean(axis=mean_axes, keepdims=True)
        var = x.var(axis=mean_axes, keepdims=True, ddof=ddof)
        std = {"inside": np.sqrt(var + eps), "outside": np.sqrt(var) + eps, "none": np.sqrt(var)}[eps_where]
        return _per_channel(gamma, x) * (x - mu) / std + _per_channel(beta, x)

    mistakes = [("the variance divides by M - 1 instead of M", normalised(axes, ddof=1),
                 "Equation (4) is the biased variance: the mean of the squared deviations."),
                ("eps is added to the standard deviation instead of to the variance", normalised(axes, eps_where="outside"),
                 "eps goes under the square root, with the variance (equation (5))."),
                ("eps is left out", normalised(axes, eps_where="none"),
                 "Equation (5) divides by sqrt(var + eps); the check uses eps = 0.01, so leaving it out shows.")]
    if x.ndim == 4:
        mistakes.append(("each (channel, position) is normalised over the batch alone", normalised((0,)),
                         "BatchNorm2d pools a channel over N, H and W: M = N*H*W values per channel."))
    mistakes.append(("the statistics are taken over every axis, channels included", normalised(tuple(range(x.ndim))),
                     "Each channel has its own mean and variance: reduce over every axis but axis 1."))
    return mistakes


def checks_bn_forward(module):
    eps = 0.01  # large enough that a missing or misplaced eps shows
    for shape, seed in (((7, 3), 1), ((3, 4, 5, 2), 2)):
        x, gamma, beta = _bn_inputs(shape, seed)

        def vectorised(x=x, gamma=gamma, beta=beta):
            out = call("batchnorm_forward", _function(module, "batchnorm_forward"), x, gamma, beta, eps)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise CheckFailed("batchnorm_forward must return a pair (y, cache)")
            expected = _plain().batchnorm_forward(x, gamma, beta, eps)[0]
            return _same_as_mistake("y", out[0], expected, _bn_forward_mistakes(x, gamma, beta, eps))

        yield f"batchnorm_forward, x {shape}, eps {eps}, against minicnn.plain.batchnorm_forward", vectorised

    for shape, seed in (((5, 2), 3), ((2, 3, 2, 3), 4)):
        x, gamma, beta = _bn_inputs(shape, seed)

        def loops(x=x, gamma=gamma, beta=beta):
            y = call("batchnorm_forward_loops", _function(module, "batchnorm_forward_loops"), x, gamma, beta, eps)
            expected = _plain().batchnorm_forward(x, gamma, beta, eps)[0]
            return _same_as_mistake("y (loops)", y, expected, _bn_forward_mistakes(x, gamma, beta, eps))

        yield f"batchnorm_forward_loops, x {shape}, eps {eps}, against minicnn.plain.batchnorm_forward", loops

    def constant_channel():
        x = np.ones((4, 2, 3, 3))
        y, _ = call("batchnorm_forward", _function(module, "batchnorm_forward"), x, np.array([2.0, 3.0]),
                    np.array([0.5, -1.0]), 1e-5)
        return compare("y of a constant channel", y, np.broadcast_to(np.array([0.5, -1.0]).reshape(1, 2, 1, 1), x.shape),
                       hint="A constant channel has variance 0: eps keeps the division finite, x_hat = 0 and y = beta.")

    yield "batchnorm_forward on a constant channel (variance 0)", constant_channel


# --- bn_backward_nodes ------------------------------------------------------------------------------------------
def checks_bn_backward_nodes(module):
    eps = 1e-5
    x, gamma, beta = _bn_inputs((6, 3), 5)
    dy = _rng(6).standard_normal(x.shape)
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    state = {}

    def grads():
        if "grads" not in state:
            out = call("batchnorm_backward_nodes", _function(module, "batchnorm_backward_nodes"), dy.copy(), x.copy(),
                       gamma.copy(), eps)
            if not isinstance(out, dict):
                raise CheckFailed(f"batchnorm_backward_nodes must return a dict, got {type(out).__name__}")
            state["grads"] = out
        return state["grads"]

    def node(key):
        value = grads().get(key)
        if value is None:
            raise CheckFailed(f"the dict has no key {key!r} (it has {sorted(grads())})")
        return value

    plain = _plain()
    reference = {}

    def reference_grads():
        if not reference:
            _, cache = plain.batchnorm_forward(x, gamma, beta, eps)
            reference["dx"], reference["dgamma"], reference["dbeta"] = plain.batchnorm_backward(dy, cache)
        return reference

    # dvar and dmu as nodes: L as a function of var alone (mu fixed), and of mu alone (var recomputed from mu)
    def loss_of_var(v):
        return float((dy * (gamma * (x - mu) / np.sqrt(v + eps) + beta)).sum())

    def loss_of_mu(m):
        v = ((x - m) ** 2).mean(axis=0)
        return float((dy * (gamma * (x - m) / np.sqrt(v + eps) + beta)).sum())

    var_node, mu_node = var.copy(), mu.copy()
    expected_dvar = numerical_gradient(lambda: loss_of_var(var_node), var_node)
    expected_dmu = numerical_gradient(lambda: loss_of_mu(mu_node), mu_node)

    yield "dbeta = sum of dy over the batch (minicnn.plain.batchnorm_backward)", \
        lambda: compare("dbeta", node("dbeta"), reference_grads()["dbeta"])
    yield "dgamma = sum of dy * x_hat (minicnn.plain.batchnorm_backward)", \
        lambda: compare("dgamma", node("dgamma"), reference_grads()["dgamma"])
    yield "dx_hat = gamma * dy", lambda: compare("dx_hat", node("dx_hat"), gamma * dy)
    yield "dvar: dL/dvar through x_hat, against finite differences", \
        lambda: compare("dvar", node("dvar"), expected_dvar, rtol=1e-5, atol=1e-7,
                        hint="var reaches x_hat through s = (var + eps)^(-1/2): ds/dvar = -s^3/2.")
    yield "dmu: dL/dmu through x_hat and through var, against finite differences", \
        lambda: compare("dmu", node("dmu"), expected_dmu, rtol=1e-5, atol=1e-7,
                        hint="mu reaches L directly through x_hat (-s per value) and through var.")
    yield "dx: all three paths, against minicnn.plain.batchnorm_backward", \
        lambda: _same_as_mistake("dx", node("dx"), reference_grads()["dx"], [
            ("only the direct path is kept, as if mu and var were constants", gamma * dy / np.sqrt(var + eps),
             "x reaches x_hat three ways: directly, through mu and through var; dx is the sum of the three."),
            ("the path through var is missing",
             gamma * dy / np.sqrt(var + eps) - (gamma * dy / np.sqrt(var + eps)).mean(axis=0),
             "Add dvar * dvar/dx, with dvar/dx_j = 2 (x_j - mu) / M."),
            ("the path through mu is missing",
             gamma * dy / np.sqrt(var + eps)
             + (gamma * dy * (x - mu)).sum(axis=0) * -0.5 * (var + eps) ** -1.5 * 2 * (x - mu) / x.shape[0],
             "Add dmu * dmu/dx, with dmu/dx_j = 1/M.")])


# --- bn_backward_compact ----------------------------------------------------------------------------------------
def _bn_backward_mistakes(dy, x, gamma, eps):
    """The compact dx with one of its pieces left out, each named."""
    axes, M = _channel_axes(x), x.size // x.shape[1]
    inv_std = _per_channel(1 / np.sqrt(x.var(axis=axes) + eps), x)
    x_hat = (x - x.mean(axis=axes, keepdims=True)) * inv_std
    g = _per_channel(gamma, x)
    sum_dy, sum_dy_xhat = dy.sum(axis=axes, keepdims=True), (dy * x_hat).sum(axis=axes, keepdims=True)
    return [("mu and var are treated as constants (the evaluation-mode gradient)", g * inv_std * dy,
             "In training mode mu and var depend on every x of the channel: two more terms, one per path."),
            ("the term x_hat * sum(dy * x_hat) is left out (the path through the variance)",
             g * inv_std / M * (M * dy - sum_dy), "The variance depends on x too; its path gives the x_hat term."),
            ("the term sum(dy) is left out (the path through the mean)",
             g * inv_std / M * (M * dy - x_hat * sum_dy_xhat), "The mean depends on x too; its path gives sum(dy)."),
            ("gamma is left out", inv_std / M * (M * dy - sum_dy - x_hat * sum_dy_xhat),
             "y = gamma * x_hat + beta: every gradient reaching x_hat is first multiplied by gamma."),
            ("the sums are not divided by M", g * inv_std * (M * dy - sum_dy - x_hat * sum_dy_xhat),
             "The mean and the variance are averages over the M values: each path carries a 1/M.")]


def checks_bn_backward_compact(module):
    eps = 1e-5
    plain = _plain()
    for shape, seed in (((5, 3), 7), ((2, 3, 4, 5), 8), ((2, 4), 9)):
        x, gamma, beta = _bn_inputs(shape, seed)
        dy = _rng(seed + 100).standard_normal(shape)

        def against_plain(x=x, gamma=gamma, beta=beta, dy=dy):
            _, cache = call("batchnorm_forward", _function(module, "batchnorm_forward"), x, gamma, beta, eps)
            out = call("batchnorm_backward", _function(module, "batchnorm_backward"), dy, cache)
            if not (isinstance(out, tuple) and len(out) == 3):
                raise CheckFailed("batchnorm_backward must return (dx, dgamma, dbeta)")
            dx, dgamma, dbeta = out
            _, plain_cache = plain.batchnorm_forward(x, gamma, beta, eps)
            expected_dx, expected_dgamma, expected_dbeta = plain.batchnorm_backward(dy, plain_cache)
            axes = _channel_axes(x)
            lines = [_same_as_mistake("dbeta", dbeta, expected_dbeta, [
                         ("dbeta is averaged over the channel's values instead of summed", dy.mean(axis=axes),
                          "beta is added to all M values of its channel, so its gradient is the sum of their dy.")]),
                     _same_as_mistake("dgamma", dgamma, expected_dgamma, [
                         ("dgamma sums dy * x instead of dy * x_hat", (dy * x).sum(axis=axes),
                          "gamma multiplies x_hat, not x.")])]
            lines.append(_same_as_mistake("dx", dx, expected_dx, _bn_backward_mistakes(dy, x, gamma, eps)))
            sums = np.asarray(dx, dtype=np.float64).sum(axis=axes)
            compare("the sum of dx over each channel (it must be 0: adding a constant to a channel changes nothing)",
                    sums, np.zeros_like(sums), atol=1e-8)
            return "; ".join(lines)

        yield f"batchnorm_backward, x {shape}: dx, dgamma, dbeta against minicnn.plain.batchnorm_backward", against_plain

    def finite_differences():
        x, gamma, beta = _bn_inputs((4, 2, 2, 3), 10)
        r = _rng(11).standard_normal(x.shape)
        forward = _function(module, "batchnorm_forward")
        loss = lambda: float((forward(x, gamma, beta, eps)[0] * r).sum())  # noqa: E731
        _, cache = call("batchnorm_forward", forward, x, gamma, beta, eps)
        dx, dgamma, dbeta = call("batchnorm_backward", _function(module, "batchnorm_backward"), r, cache)
        return "; ".join([compare("dx", dx, numerical_gradient(loss, x), rtol=1e-5, atol=1e-7),
                          compare("dgamma", dgamma, numerical_gradient(loss, gamma), rtol=1e-5, atol=1e-7),
                          compare("dbeta", dbeta, numerical_gradient(loss, beta), rtol=1e-5, atol=1e-7)])

    yield "batchnorm_backward against centred finite differences of L = sum(y * r)", finite_differences


# --- bn_running -------------------------------------------------------------------------------------------------
def checks_bn_running(module):
    plain = _plain()
    for shape, seed, eps in (((8, 3), 12, 1e-5), ((2, 3, 3, 2), 13, 0.1)):
        x, gamma, beta = _bn_inputs(shape, seed)
        running_mean, running_var = _rng(seed).standard_normal(3), _rng(seed).uniform(0.5, 2.0, 3)
        axes = _channel_axes(x)

        def update(x=x, running_mean=running_mean, running_var=running_var, axes=axes):
            before = (running_mean.copy(), running_var.copy())
            given = (running_mean.copy(), running_var.copy())
            out = call("update_running_statistics", _function(module, "update_running_statistics").in_place,
                       given[0], given[1], x.copy(), 0.3)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise CheckFailed("update_running_statistics must return (running_mean, running_var)")
            if not (np.array_equal(before[0], given[0]) and np.array_equal(before[1], given[1])):
                raise CheckFailed("update_running_statistics changed its input arrays; return new ones instead")
            _, cache = plain.batchnorm_forward(x, np.ones(3), np.zeros(3))
            expected_mean, expected_var = plain.batchnorm_update_running(before[0].copy(), before[1].copy(), cache, 0.3)
            old_weight = ("momentum weighs the old running value instead of the new batch",
                          0.3 * before[0] + 0.7 * x.mean(axis=axes),
                          "In PyTorch's convention momentum is the weight of the NEW batch's statistic.")
            return "; ".join([
                _same_as_mistake("running_mean", out[0], expected_mean, [old_weight]),
                _same_as_mistake("running_var", out[1], expected_var, [
                    ("the batch's biased variance (divided by M) is used", 0.7 * before[1] + 0.3 * x.var(axis=axes),
                     "The running variance estimates the population's: it uses the unbiased batch variance, "
                     "var * M / (M - 1)."),
                    (old_weight[0], 0.3 * before[1] + 0.7 * x.var(axis=axes, ddof=1), old_weight[2])])])

        yield f"update_running_statistics, x {shape}, momentum 0.3, against minicnn.plain.batchnorm_update_running", update

        def evaluation(x=x, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var, eps=eps):
            y = call("batchnorm_eval_forward", _function(module, "batchnorm_eval_forward"), x, gamma, beta,
                     running_mean, running_var, eps)
            expected = plain.batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps)[0]
            rm, rv = _per_channel(running_mean, x), _per_channel(running_var, x)
            g, b = _per_channel(gamma, x), _per_channel(beta, x)
            return _same_as_mistake("y (evaluation mode)", y, expected, [
                ("the batch's own statistics are used", plain.batchnorm_forward(x, gamma, beta, eps)[0],
                 "Evaluation mode uses the running statistics, so that one image's output does not depend on its "
                 "batch."),
                ("eps is left out", g * (x - rm) / np.sqrt(rv) + b,
                 "Evaluation mode divides by sqrt(running_var + eps), as training mode does."),
                ("eps is added to the standard deviation instead of to the variance", g * (x - rm) / (np.sqrt(rv) + eps)
                 + b, "eps goes under the square root, with the variance.")])

        yield (f"batchnorm_eval_forward, x {shape}, eps {eps:g}, against minicnn.plain.batchnorm_eval_forward",
               evaluation)

        def evaluation_backward(x=x, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var,
                                eps=eps, axes=axes):
            dy = _rng(seed + 7).standard_normal(x.shape)
            out = call("batchnorm_eval_backward", _function(module, "batchnorm_eval_backward"), dy, x, gamma,
                       running_mean, running_var, eps)
            if not (isinstance(out, tuple) and len(out) == 3):
                raise CheckFailed("batchnorm_eval_backward must return (dx, dgamma, dbeta)")
            _, cache = plain.batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps)
            expected = plain.batchnorm_eval_backward(dy, cache)
            _, train_cache = plain.batchnorm_forward(x, gamma, beta, eps)
            return "; ".join([
                _same_as_mistake("dx (evaluation mode)", out[0], expected[0], [
                    ("the training-mode gradient is used", plain.batchnorm_backward(dy, train_cache)[0],
                     "In evaluation mode mu and var are the running statistics: constants, so only the direct "
                     "path is left.")]),
                compare("dgamma (evaluation mode)", out[1], expected[1]),
                compare("dbeta (evaluation mode)", out[2], expected[2])])

        yield (f"batchnorm_eval_backward, x {shape}, eps {eps:g}, against minicnn.plain.batchnorm_eval_backward",
               evaluation_backward)


# --- conv_im2col ------------------------------------------------------------------------------------------------
def _im2col_loops(x_pad, KH, KW, stride):
    N, C, Hp, Wp = x_pad.shape
    H_out, W_out = (Hp - KH) // stride + 1, (Wp - KW) // stride + 1
    rows = [[x_pad[n, c, i * stride + p, j * stride + q] for c in range(C) for p in range(KH) for q in range(KW)]
            for n in range(N) for i in range(H_out) for j in range(W_out)]
    return np.array(rows)


def _col2im_loops(cols, x_pad_shape, KH, KW, stride):
    """The adjoint of _im2col_loops, entry by entry: every entry of cols added back to the pixel it came from."""
    N, C, Hp, Wp = x_pad_shape
    H_out, W_out = (Hp - KH) // stride + 1, (Wp - KW) // stride + 1
    out = np.zeros(x_pad_shape)
    for row, (n, i, j) in enumerate((n, i, j) for n in range(N) for i in range(H_out) for j in range(W_out)):
        for column, (c, p, q) in enumerate((c, p, q) for c in range(C) for p in range(KH) for q in range(KW)):
            out[n, c, i * stride + p, j * stride + q] += cols[row, column]
    return out


def _coverage(x_pad_shape, KH, KW, stride):
    """How many windows read each pixel."""
    return _col2im_loops(np.ones((np.prod(x_pad_shape[:1]) * ((x_pad_shape[2] - KH) // stride + 1)
                                  * ((x_pad_shape[3] - KW) // stride + 1), x_pad_shape[1] * KH * KW)),
                         x_pad_shape, KH, KW, stride)


def _overlap_assigned(name, got, expected, coverage, **tolerance):
    """compare(); when the only wrong values are at pixels that several windows share, say that their
    contributions were assigned (=) where they must be added (+=)."""
    try:
        return compare(name, got, expected, **tolerance)
    except CheckFailed as failure:
        got = np.asarray(got, dtype=np.float64)
        if got.shape == expected.shape and np.isfinite(got).all():
            wrong = ~np.isclose(got, expected, rtol=1e-6, atol=1e-9)
            if wrong.any() and (coverage[wrong] > 1).all():
                raise CheckFailed(f"{sentence(failure)} Every wrong value is at a pixel that more than one window contributes "
                                  f"to: there each window's contribution replaced the one before (=) instead of "
                                  f"being added to it (+=).", hint=failure.hint) from None
        raise


def _conv_loops(x, w, b, stride, pads):
    """The convolution of x padded with ``pads`` ((top, bottom), (left, right)), output sizes rounded down."""
    x_pad = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    F, _, KH, KW = w.shape
    H_out, W_out = (x_pad.shape[2] - KH) // stride + 1, (x_pad.shape[3] - KW) // stride + 1
    Y = _im2col_loops(x_pad, KH, KW, stride) @ w.reshape(F, -1).T + (0 if b is None else b)
    return Y.reshape(x.shape[0], H_out, W_out, F).transpose(0, 3, 1, 2)


def _padding_named(y, expected_y, x, w, b, stride, padding):
    """When ``y`` is the output of a wrongly padded input (P + 1 or P - 1 on each side, P on one side only, none),
    raise a CheckFailed that says so; otherwise return and let compare() speak."""
    got = np.asarray(y, dtype=np.float64) if y is not None else None
    if got is None or (got.shape == expected_y.shape and np.allclose(got, expected_y, rtol=1e-6, atol=1e-9)):
        return
    P = padding
    for pads, what in ((((P + 1, P + 1), (P + 1, P + 1)), "P + 1 rows and columns on each side"),
                       (((P - 1, P - 1), (P - 1, P - 1)), "P - 1 rows and columns on each side"),
                       (((P, 0), (P, 0)), "P rows and columns on one side only"),
                       (((0, 0), (0, 0)), "no padding")):
        if min(min(pads)) < 0 or pads == ((P, P), (P, P)):
            continue
        wrong = _conv_loops(x, w, b, stride, pads)
        if wrong.shape == got.shape and np.allclose(got, wrong, rtol=1e-9, atol=1e-12):
            shape = "" if got.shape == expected_y.shape else f" (shape {got.shape}, expected {expected_y.shape})"
            raise CheckFailed(f"y is the output of an input padded with {what}{shape}, where P = {P} belongs on every "
                              f"side", hint="x_pad has P zeros on every side: H_out = (H + 2P - KH) / S + 1.")


def checks_conv_im2col(module):
    plain = _plain()
    rng = _rng(20)
    x_pad = rng.standard_normal((2, 3, 7, 5))

    yield "im2col of a (2, 3, 7, 5) input, 3 x 2 kernel, stride 2, against a loop over windows", \
        lambda: compare("cols", call("im2col", _function(module, "im2col"), x_pad, 3, 2, 2),
                        _im2col_loops(x_pad, 3, 2, 2),
                        hint="Rows are windows ordered (n, i, j); columns are offsets ordered (c, p, q).")

    def adjoint():
        cols = rng.standard_normal((2 * 3 * 2, 3 * 3 * 2))
        back = call("col2im", _function(module, "col2im"), cols, x_pad.shape, 3, 2, 2)
        return _overlap_assigned("col2im(cols)", back, _col2im_loops(cols, x_pad.shape, 3, 2, 2),
                                 _coverage(x_pad.shape, 3, 2, 2))

    yield "col2im of a (12, 18) matrix: the adjoint of im2col, against a loop over its entries", adjoint

    cases = [((2, 3, 7, 7), (4, 3, 3, 3), True, 2, 1), ((3, 2, 6, 5), (5, 2, 2, 3), False, 1, 0),
             ((1, 1, 13, 13), (2, 1, 5, 5), True, 3, 2)]
    for x_shape, w_shape, with_bias, stride, padding in cases:
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        b = rng.standard_normal(w_shape[0]) if with_bias else None
        label = f"x {x_shape}, w {w_shape}, {'bias' if with_bias else 'no bias'}, stride {stride}, padding {padding}"

        def forward_backward(x=x, w=w, b=b, stride=stride, padding=padding):
            out = call("conv2d_forward", _function(module, "conv2d_forward"), x, w, b, stride, padding)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise CheckFailed("conv2d_forward must return a pair (y, cache)")
            expected_y, plain_cache = plain.conv2d_forward(x, w, b, stride, padding)
            _padding_named(out[0], expected_y, x, w, b, stride, padding)
            lines = [compare("y", out[0], expected_y)]
            dy = _rng(21).standard_normal(expected_y.shape)
            grads = call("conv2d_backward", _function(module, "conv2d_backward"), dy, out[1])
            if not (isinstance(grads, tuple) and len(grads) == 3):
                raise CheckFailed("conv2d_backward must return (dx, dw, db)")
            dx, dw, db = grads
            expected_dx, expected_dw, expected_db = plain.conv2d_backward(dy, plain_cache)
            lines.append(_crop_checked(dx, expected_dx, dy, w, x.shape, stride, padding))
            lines.append(compare("dw", dw, expected_dw))
            if b is None:
                if db is not None:
                    raise CheckFailed("db must be None when the layer has no bias")
            else:
                lines.append(compare("db", db, expected_db))
            return "; ".join(lines)

        yield f"conv2d_forward and conv2d_backward, {label}, against minicnn.plain", forward_backward

    def finite_differences():
        x, w, b = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
        forward = _function(module, "conv2d_forward")
        y, cache = call("conv2d_forward", forward, x, w, b, 1, 1)
        r = _rng(22).standard_normal(np.shape(y))
        loss = lambda: float((forward(x, w, b, 1, 1)[0] * r).sum())  # noqa: E731
        dx, dw, db = call("conv2d_backward", _function(module, "conv2d_backward"), r, cache)
        return "; ".join([compare(name, got, numerical_gradient(loss, value), rtol=1e-5, atol=1e-7)
                          for name, got, value in (("dx", dx, x), ("dw", dw, w), ("db", db, b))])

    yield "conv2d_backward against centred finite differences", finite_differences

    def refuses():
        try:
            _function(module, "conv2d_forward")(np.zeros((1, 1, 6, 6)), np.zeros((1, 1, 3, 3)), None, 2, 0)
        except ValueError:
            return "ValueError for (6 - 3) / 2 + 1 = 2.5 rows"
        except NotImplementedError:
            raise CheckFailed("conv2d_forward is not written yet") from None
        raise CheckFailed("conv2d_forward accepted a 6 x 6 input with a 3 x 3 kernel and stride 2, whose output size "
                          "(6 - 3) / 2 + 1 = 2.5 is not an integer; raise ValueError as minicnn does")

    yield "conv2d_forward refuses a non-integral output size", refuses


def _crop_checked(dx, expected_dx, dy, w, x_shape, stride, padding):
    """compare() of dx; when dx is the padded gradient cut out at the wrong rows or columns, say so."""
    try:
        return compare("dx", dx, expected_dx)
    except CheckFailed as failure:
        got = np.asarray(dx, dtype=np.float64) if dx is not None else None
        N, C, H, W = x_shape
        F, _, KH, KW = w.shape
        x_pad_shape = (N, C, H + 2 * padding, W + 2 * padding)
        dY = dy.transpose(0, 2, 3, 1).reshape(-1, F)
        dx_pad = _col2im_loops(dY @ w.reshape(F, -1), x_pad_shape, KH, KW, stride)
        if got is not None and got.ndim == 4 and got.shape[:2] == (N, C):
            h, w_ = got.shape[2:]
            for top in range(x_pad_shape[2] - h + 1):
                for left in range(x_pad_shape[3] - w_ + 1):
                    if (top, left) != (padding, padding) and np.allclose(got, dx_pad[:, :, top:top + h, left:left + w_],
                                                                         rtol=1e-9, atol=1e-12):
                        raise CheckFailed(f"{sentence(failure)} Your dx is the padded input's gradient cut out from row {top}, "
                                          f"column {left}, size {h} x {w_}: the crop of the padding is off (padding "
                                          f"{padding} on each side, an input of {H} x {W}).", hint=failure.hint) \
                            from None
        raise


# --- maxpool_ties -----------------------------------------------------------------------------------------------
def _maxpool_routed(x, dy, K, S, rule):
    """dx of a K x K stride-S max pool when each window's dy goes to its first maximum, its last, or all of them."""
    N, C, H, W = x.shape
    H_out, W_out = (H - K) // S + 1, (W - K) // S + 1
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * S:i * S + K, j * S:j * S + K]
                    winners = np.argwhere(window == window.max())
                    chosen = {"first": winners[:1], "last": winners[-1:], "all": winners}[rule]
                    for p, q in chosen:
                        dx[n, c, i * S + p, j * S + q] += dy[n, c, i, j]
    return dx


def _pool_coverage(x_shape, K, S):
    """How many K x K stride-S windows (no padding) read each input position."""
    coverage = np.zeros(x_shape[-2:], dtype=np.int64)
    for i in range((x_shape[-2] - K) // S + 1):
        for j in range((x_shape[-1] - K) // S + 1):
            coverage[i * S:i * S + K, j * S:j * S + K] += 1
    return coverage


def checks_maxpool_ties(module):
    plain = _plain()
    rng = _rng(30)
    for x_shape, K, S in (((2, 3, 7, 7), 3, 2), ((1, 2, 6, 4), 2, 2), ((2, 1, 5, 6), 2, 1)):
        x = rng.integers(0, 3, x_shape).astype(np.float64)   # few distinct values: many ties

        def forward_backward(x=x, K=K, S=S):
            out = call("maxpool2d_forward", _function(module, "maxpool2d_forward"), x, K, S)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise CheckFailed("maxpool2d_forward must return a pair (y, cache)")
            expected_y, plain_cache = plain.maxpool2d_forward(x, K, S, 0)
            lines = [compare("y", out[0], expected_y)]
            dy = _rng(31).uniform(0.5, 1.5, expected_y.shape)
            dx = call("maxpool2d_backward", _function(module, "maxpool2d_backward"), dy, out[1])
            expected_dx = plain.maxpool2d_backward(dy, plain_cache)
            first_wins = "With ties, the first maximum of the window in row-major order takes all of dy (as np.argmax)."
            lines.append(_same_as_mistake("dx", dx, expected_dx, [
                ("a tie sends the gradient to every maximum of the window", _maxpool_routed(x, dy, K, S, "all"),
                 first_wins),
                ("a tie sends the gradient to the last maximum of the window", _maxpool_routed(x, dy, K, S, "last"),
                 first_wins)]))
            compare("the sum of dx (every dy is routed whole to one input, so it must equal the sum of dy)",
                    float(np.asarray(dx).sum()), float(dy.sum()))
            return "; ".join(lines)

        def checked(forward_backward=forward_backward, x=x, K=K, S=S):
            try:
                return forward_backward()
            except CheckFailed as failure:
                if not str(failure).startswith("dx is wrong") or "Your result is" in str(failure):
                    raise
                out = _function(module, "maxpool2d_forward")(x, K, S)
                dy = _rng(31).uniform(0.5, 1.5, np.shape(out[0]))
                got = np.asarray(_function(module, "maxpool2d_backward")(dy, out[1]), dtype=np.float64)
                expected = _maxpool_routed(x, dy, K, S, "first")
                wrong = ~np.isclose(got, expected)
                # = for +=, whatever the loop order: the right value where one window reads an input, a wrong one
                # only where several overlapping windows do (kept the last window's share, or its 0)
                shared = np.broadcast_to(_pool_coverage(x.shape, K, S), x.shape) > 1
                if got.shape == expected.shape and wrong.any() and shared[wrong].all():
                    raise CheckFailed(f"{sentence(failure)} Every wrong value is at an input that more than one "
                                      f"overlapping window reads: there each window's gradient replaced the one before (=) "
                                      f"instead of being added to it (+=).", hint=failure.hint) from None
                raise

        yield f"maxpool2d forward and backward, x {x_shape} of the values 0, 1, 2 (ties), {K} x {K} stride {S}", \
            checked


# --- softmax_ce -------------------------------------------------------------------------------------------------
def checks_softmax_ce(module):
    plain = _plain()
    rng = _rng(40)
    for logits, what in ((rng.standard_normal((8, 5)) * 3, "8 x 5 logits"),
                         (rng.standard_normal((4, 3)) * 3 + np.array([1000.0, -1000.0, 990.0]), "logits near +-1000")):
        labels = rng.integers(0, logits.shape[1], logits.shape[0])

        def against_plain(logits=logits, labels=labels):
            out = call("softmax_cross_entropy", _function(module, "softmax_cross_entropy"), logits.copy(), labels.copy())
            if not (isinstance(out, tuple) and len(out) == 2):
                raise CheckFailed("softmax_cross_entropy must return (loss, dlogits)")
            expected_loss, expected_dlogits = plain.softmax_cross_entropy(logits, labels)
            N = logits.shape[0]
            return "; ".join([
                _same_as_mistake("loss", np.float64(out[0]), np.float64(expected_loss), [
                    ("the loss is summed over the batch instead of averaged", np.float64(expected_loss * N))],
                    hint="exp(1000) overflows: subtracting each row's maximum first changes neither the "
                         "probabilities nor the loss."),
                _same_as_mistake("dlogits", out[1], expected_dlogits, [
                    ("dlogits is not divided by the batch size N (the loss is a mean)", expected_dlogits * N)],
                    hint="exp(1000) overflows: subtracting each row's maximum first changes neither the "
                         "probabilities nor the loss.")])

        yield f"softmax_cross_entropy on {what}, against minicnn.plain.softmax_cross_entropy", against_plain

    def finite_differences():
        logits, labels = rng.standard_normal((3, 4)), np.array([0, 3, 1])
        function = _function(module, "softmax_cross_entropy")
        _, dlogits = call("softmax_cross_entropy", function, logits, labels)
        loss = lambda: float(function(logits, labels)[0])  # noqa: E731
        return compare("dlogits", dlogits, numerical_gradient(loss, logits), rtol=1e-5, atol=1e-8)

    yield "dlogits against centred finite differences of your loss", finite_differences


# --- sgd_momentum -----------------------------------------------------------------------------------------------
def checks_sgd_momentum(module):
    plain = _plain()
    for momentum, nesterov, l2 in ((0.9, False, 0.01), (0.9, True, 0.01), (0.0, False, 0.0), (0.5, True, 0.0)):
        def three_steps(momentum=momentum, nesterov=nesterov, l2=l2):
            rng = _rng(50)
            param = expected_param = rng.standard_normal((3, 4))
            velocity = expected_velocity = None
            for step in range(1, 4):
                grad = rng.standard_normal((3, 4))
                out = call("sgd_step", _function(module, "sgd_step"), param.copy(), grad.copy(),
                           None if velocity is None else np.array(velocity, dtype=np.float64), 0.1, momentum,
                           nesterov, l2)
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise CheckFailed("sgd_step must return (param, velocity)")
                param, velocity = out
                expected_param, expected_velocity = plain.sgd_step(expected_param, grad, expected_velocity, 0.1,
                                                                   momentum, nesterov, l2)
                compare(f"param after step {step}", param, expected_param)
                if expected_velocity is None:
                    if velocity is not None:
                        raise CheckFailed(f"velocity after step {step}: with momentum 0 there is no velocity; "
                                          f"return None for it")
                else:
                    compare(f"velocity after step {step}", velocity, expected_velocity,
                            hint="On the first step the velocity is the gradient itself (it starts as None).")
                param = np.asarray(param, dtype=np.float64)
            return "param and velocity agree after 3 steps"

        yield (f"sgd_step, lr 0.1, momentum {momentum}, {'Nesterov' if nesterov else 'plain momentum'}, L2 {l2}, "
               f"three steps against minicnn.plain.sgd_step"), three_steps


# --- linear_relu_dropout ----------------------------------------------------------------------------------------
def checks_linear_relu_dropout(module):
    plain = _plain()
    rng = _rng(70)
    for N, D_in, D_out, with_bias in ((5, 7, 3, True), (1, 4, 6, False)):
        x, w = rng.standard_normal((N, D_in)), rng.standard_normal((D_out, D_in))
        b = rng.standard_normal(D_out) if with_bias else None

        def linear(x=x, w=w, b=b):
            out = call("linear_forward", _function(module, "linear_forward"), x, w, b)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise CheckFailed("linear_forward must return a pair (y, cache)")
            expected_y, cache = plain.linear_forward(x, w, b)
            lines = [compare("y", out[0], expected_y, hint="y = x w^T + b: w is (D_out, D_in).")]
            dy = _rng(71).standard_normal(expected_y.shape)
            grads = call("linear_backward", _function(module, "linear_backward"), dy, out[1])
            if not (isinstance(grads, tuple) and len(grads) == 3):
                raise CheckFailed("linear_backward must return (dx, dw, db)")
            expected = plain.linear_backward(dy, cache)
            lines += [compare("dx", grads[0], expected[0]), compare("dw", grads[1], expected[1])]
            if b is None:
                if grads[2] is not None:
                    raise CheckFailed("db must be None when the layer has no bias")
            else:
                lines.append(compare("db", grads[2], expected[2],
                                     hint="b is added to every row of the batch: its gradient sums dy over rows."))
            return "; ".join(lines)

        yield (f"linear_forward and linear_backward, x ({N}, {D_in}), w ({D_out}, {D_in}), "
               f"{'bias' if with_bias else 'no bias'}, against minicnn.plain"), linear

    def relu():
        x = rng.integers(-2, 3, (3, 4, 5)).astype(np.float64) + rng.uniform(-0.4, 0.4, (3, 4, 5)) * (
            rng.random((3, 4, 5)) < 0.5)  # exact zeros among the values
        out = call("relu_forward", _function(module, "relu_forward"), x)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise CheckFailed("relu_forward must return a pair (y, cache)")
        expected_y, cache = plain.relu_forward(x)
        dy = _rng(72).uniform(0.5, 1.5, x.shape)
        dx = call("relu_backward", _function(module, "relu_backward"), dy, out[1])
        return "; ".join([compare("y", out[0], expected_y), _same_as_mistake("dx", dx, plain.relu_backward(dy, cache), [
            ("the derivative at 0 is taken as 1 (x >= 0 lets the gradient through)", np.where(x >= 0, dy, 0.0),
             "At 0 ReLU has no derivative; minicnn and PyTorch take 0 there.")])])

    yield "relu_forward and relu_backward on values with exact zeros, against minicnn.plain", relu

    for shape, p_drop in (((4, 9), 0.6), ((2, 3, 5, 5), 0.25)):
        x = _rng(73).uniform(0.5, 2.0, shape) * np.where(_rng(74).random(shape) < 0.5, -1, 1)

        def dropout(x=x, p_drop=p_drop):
            out = call("dropout_forward", _function(module, "dropout_forward"), x, p_drop, np.random.default_rng(5))
            if not (isinstance(out, tuple) and len(out) == 2):
                raise CheckFailed("dropout_forward must return a pair (y, cache)")
            expected_y, cache = plain.dropout_forward(x, p_drop, np.random.default_rng(5))
            u = np.random.default_rng(5).random(x.shape)
            try:
                line = _same_as_mistake("y", out[0], expected_y, [
                    ("p_drop is used as the probability of keeping a unit", x * (u < p_drop) / p_drop,
                     "p_drop is the probability of dropping: a unit is kept where u >= p_drop."),
                    ("the kept units are not scaled", x * (u >= p_drop),
                     "Inverted dropout divides the kept units by 1 - p_drop, so that evaluation mode is the identity."),
                    ("the kept units are multiplied by 1 - p_drop", x * (u >= p_drop) * (1 - p_drop),
                     "Inverted dropout divides the kept units by 1 - p_drop.")])
            except CheckFailed as failure:
                y = np.asarray(out[0], dtype=np.float64)
                ratio = np.divide(y, x, out=np.zeros_like(x), where=x != 0)
                if y.shape == x.shape and np.all(np.isclose(ratio, 0) | np.isclose(ratio, 1 / (1 - p_drop))):
                    raise CheckFailed(f"{sentence(failure)} Your y is x times an inverted-dropout mask, but not the mask minicnn "
                                      f"draws from the same generator: draw u = rng.random(x.shape, dtype=x.dtype) "
                                      f"once and drop where u < p_drop, as the stub says.", hint=failure.hint) from None
                raise
            dy = _rng(75).standard_normal(x.shape)
            dx = call("dropout_backward", _function(module, "dropout_backward"), dy, out[1])
            return "; ".join([line, compare("dx", dx, plain.dropout_backward(dy, cache),
                                            hint="The units that were dropped get no gradient; the kept ones get dy "
                                                 "times the same scale as in the forward.")])

        yield f"dropout_forward and dropout_backward, x {shape}, p_drop {p_drop}, against minicnn.plain", dropout

    def linear_finite_differences():
        x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), rng.standard_normal(2)
        forward = _function(module, "linear_forward")
        y, cache = call("linear_forward", forward, x, w, b)
        r = _rng(76).standard_normal(np.shape(y))
        loss = lambda: float((forward(x, w, b)[0] * r).sum())  # noqa: E731
        grads = call("linear_backward", _function(module, "linear_backward"), r, cache)
        return "; ".join(compare(name, got, numerical_gradient(loss, value), rtol=1e-5, atol=1e-8)
                         for name, got, value in zip(("dx", "dw", "db"), grads, (x, w, b)))

    yield "linear_backward against centred finite differences", linear_finite_differences


# --- whole_network ----------------------------------------------------------------------------------------------
NETWORK_ORDER = ("log_probs", "logits", "fc_w", "fc_b", "flat", "pooled", "relu", "bn", "gamma", "beta", "x_hat",
                 "inv_std", "var", "centred", "mu", "conv", "conv_w")


def network_inputs(seed: int = 80):
    """x (5, 2, 6, 6), 5 labels of 4 classes and the parameters of the exercise's network (3 filters)."""
    rng = _rng(seed)
    N, C, F, classes = 5, 2, 3, 4
    params = {"conv_w": rng.standard_normal((F, C, 3, 3)) * 0.5,
              "gamma": rng.uniform(0.5, 1.5, F) * np.array([1.0, -1.0, 1.0]), "beta": rng.standard_normal(F) * 0.3,
              "fc_w": rng.standard_normal((classes, F * 2 * 2)), "fc_b": rng.standard_normal(classes)}
    return rng.standard_normal((N, C, 6, 6)), rng.integers(0, classes, N), params


def network_truth(x, labels, params, eps: float = 1e-5) -> dict:
    """The loss, the intermediates and the gradient of every name in NETWORK_ORDER, from minicnn.plain's layers
    chained by hand; batch norm's inner nodes by the chain rule (the test suite holds every one of them against
    finite differences)."""
    plain = _plain()
    N, F = x.shape[0], params["conv_w"].shape[0]
    conv, conv_cache = plain.conv2d_forward(x, params["conv_w"], None, 1, 0)
    bn, bn_cache = plain.batchnorm_forward(conv, params["gamma"], params["beta"], eps)
    relu, relu_cache = plain.relu_forward(bn)
    pooled, pool_cache = plain.maxpool2d_forward(relu, 2, 2, 0)
    flat = pooled.reshape(N, -1)
    logits, fc_cache = plain.linear_forward(flat, params["fc_w"], params["fc_b"])
    loss, dlogits = plain.softmax_cross_entropy(logits, labels)
    g = {"dlog_probs": np.zeros_like(logits)}
    g["dlog_probs"][np.arange(N), labels] = -1.0 / N
    g["dlogits"] = dlogits
    g["dflat"], g["dfc_w"], g["dfc_b"] = plain.linear_backward(dlogits, fc_cache)
    g["dpooled"] = g["dflat"].reshape(pooled.shape)
    g["drelu"] = plain.maxpool2d_backward(g["dpooled"], pool_cache)
    g["dbn"] = plain.relu_backward(g["drelu"], relu_cache)
    dconv, g["dgamma"], g["dbeta"] = plain.batchnorm_backward(g["dbn"], bn_cache)
    axes, shape, M = (0, 2, 3), (1, F, 1, 1), conv.size // F
    mu = conv.mean(axis=axes)
    centred = conv - mu.reshape(shape)
    var = (centred ** 2).mean(axis=axes)
    g["dx_hat"] = g["dbn"] * params["gamma"].reshape(shape)
    g["dinv_std"] = (g["dx_hat"] * centred).sum(axis=axes)
    g["dvar"] = g["dinv_std"] * -0.5 * (var + eps) ** -1.5
    g["dcentred"] = g["dx_hat"] / np.sqrt(var + eps).reshape(shape) + g["dvar"].reshape(shape) * 2 * centred / M
    g["dmu"] = -g["dcentred"].sum(axis=axes)
    g["dconv"] = dconv
    _, g["dconv_w"], _ = plain.conv2d_backward(dconv, conv_cache)
    forward = {"conv": conv, "mu": mu, "var": var, "x_hat": bn_cache.x_hat, "bn": bn, "relu": relu, "pooled": pooled,
               "logits": logits, "loss": loss}
    return {"forward": forward, "grads": g}


def checks_whole_network(module):
    x, labels, params = network_inputs()
    truth = network_truth(x, labels, params)
    state = {}

    def given_forward():
        t = call("forward", _function(module, "forward"), x, labels, {k: v.copy() for k, v in params.items()})
        if not isinstance(t, dict):
            raise CheckFailed(f"forward must return a dict, got {type(t).__name__} (it is given: restore it)")
        state["t"] = t
        for name, expected in truth["forward"].items():
            if name not in t:
                raise CheckFailed(f"forward's dict has no {name!r}: the forward pass is given, restore it")
            compare(f"{name} (the forward pass is given: restore it if it differs)", t[name], expected)
        return f"the loss {float(t['loss']):.6f} and every intermediate equal minicnn.plain's"

    yield "forward (given): the loss and its intermediates against minicnn.plain's layers", given_forward

    def gradients():
        if "grads" not in state:
            if "t" not in state:
                raise CheckFailed("forward failed (see the first check); nothing to backpropagate")
            grads = call("backward", _function(module, "backward"), state["t"], {k: v.copy() for k, v in params.items()})
            if not isinstance(grads, dict):
                raise CheckFailed(f"backward must return a dict, got {type(grads).__name__}")
            state["grads"] = grads
        return state["grads"]

    for position, name in enumerate(NETWORK_ORDER):
        def one(name=name, position=position):
            key = "d" + name
            grads = gradients()
            if key not in grads:
                raise CheckFailed(f"backward's dict has no {key!r} (it has {sorted(grads) or 'nothing'})")
            if grads[key] is None:
                raise CheckFailed(f"{key} is not written yet (still None)")
            try:
                text = compare(key, grads[key], truth["grads"][key], rtol=1e-6, atol=1e-10)
            except CheckFailed as failure:
                earlier = state.get("first_wrong")
                if earlier is None:
                    state["first_wrong"] = key
                    right = ", ".join("d" + n for n in NETWORK_ORDER[:position]) or "none"
                    raise CheckFailed(f"{sentence(failure)} This is the first wrong intermediate: everything before it is right "
                                      f"({right}), so the mistake is in the line that computes {key}.",
                                      hint=failure.hint) from None
                raise CheckFailed(f"{sentence(failure)} ({earlier} before it is wrong too: fix that first)",
                                  hint=failure.hint) from None
            exact = np.array_equal(np.asarray(grads[key], dtype=np.float64), truth["grads"][key])
            return f"{text}{', exact' if exact else ''}"

        yield f"d{name}: dloss/d{name} against minicnn.plain's backward passes, chained", one


# --- bug_hunt ---------------------------------------------------------------------------------------------------
def checks_bug_hunt(module):
    rng = _rng(60)
    x, w, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 4)), rng.standard_normal(4)
    r = rng.standard_normal((5, 4))

    def forward_unchanged():
        y, _ = call("forward", _function(module, "forward"), x.copy(), w.copy(), b.copy())
        return compare("y (the forward pass has no bug: leave it as it was)", y, np.tanh(x @ w.T + b))

    yield "forward: y = tanh(x @ w.T + b)", forward_unchanged

    def gradients():
        forward = _function(module, "forward")
        loss = lambda: float((forward(x, w, b)[0] * r).sum())  # noqa: E731
        _, cache = call("forward", forward, x, w, b)
        out = call("backward", _function(module, "backward"), r, cache)
        if not (isinstance(out, tuple) and len(out) == 3):
            raise CheckFailed("backward must return (dx, dw, db)")
        lines, failures = [], []
        for name, got, value in zip(("dx", "dw", "db"), out, (x, w, b)):
            try:
                lines.append(compare(name, got, numerical_gradient(loss, value), rtol=1e-5, atol=1e-8))
            except CheckFailed as error:
                failures.append(error)
        if failures:
            raise CheckFailed(" | ".join(str(f) for f in failures), hint=" ".join(f.hint for f in failures if f.hint))
        return "; ".join(lines)

    yield "backward: dx, dw and db against centred finite differences of L = sum(y * r)", gradients
