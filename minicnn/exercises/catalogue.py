"""The checks of every exercise: ``checks_<name>(module)`` yields ``(description, check)`` pairs.

Each ``check()`` returns a short "ok" text or raises ``CheckFailed`` with what is wrong. The oracles are
independent of the learner's file: minicnn's plain tier (``minicnn.plain``), centred finite differences in
float64 (``minicnn.gradcheck``) and the identities of the chapters (``Σ dx = 0`` for batch normalisation, the
sum of a max-pool gradient equal to the sum of ``dy``). Where a wrong answer has a known form (the unbiased
variance where the biased one belongs, a gradient not divided by the batch), the message says which.
"""
from __future__ import annotations

import numpy as np

from minicnn.exercises.checks import CheckFailed, call, compare
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


def _same_as_mistake(name, got, expected, mistakes, **tolerance):
    """compare(), but first say so when ``got`` equals one of the known wrong answers ``(text, array)``."""
    try:
        return compare(name, got, expected, **tolerance)
    except CheckFailed as failure:
        got = np.asarray(got, dtype=np.float64)
        for text, wrong in mistakes:
            if wrong.shape == got.shape and np.allclose(got, wrong, rtol=1e-9, atol=1e-12):
                raise CheckFailed(f"{failure} Your result is what you get when {text}.") from None
        raise


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

    def normalised(mean_axes, ddof=0, eps_inside=True):
        mu = x.mean(axis=mean_axes, keepdims=True)
        var = x.var(axis=mean_axes, keepdims=True, ddof=ddof)
        std = np.sqrt(var + eps) if eps_inside else np.sqrt(var) + eps
        return _per_channel(gamma, x) * (x - mu) / std + _per_channel(beta, x)

    mistakes = [("the variance divides by M - 1 (equation (4) is the biased variance: divide by M)",
                 normalised(axes, ddof=1)),
                ("eps is added to the standard deviation instead of to the variance inside the square root",
                 normalised(axes, eps_inside=False))]
    if x.ndim == 4:
        mistakes.append(("each (channel, position) is normalised over the batch alone: BatchNorm2d pools a "
                         "channel over N, H and W", normalised((0,))))
    mistakes.append(("the statistics are taken over every axis, channels included: each channel has its own",
                     normalised(tuple(range(x.ndim)))))
    return mistakes


def checks_bn_forward(module):
    eps = 1e-5
    for shape, seed in (((7, 3), 1), ((3, 4, 5, 2), 2)):
        x, gamma, beta = _bn_inputs(shape, seed)

        def vectorised(x=x, gamma=gamma, beta=beta):
            out = call("batchnorm_forward", _function(module, "batchnorm_forward"), x.copy(), gamma, beta, eps)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise CheckFailed("batchnorm_forward must return a pair (y, cache)")
            expected = _plain().batchnorm_forward(x, gamma, beta, eps)[0]
            return _same_as_mistake("y", out[0], expected, _bn_forward_mistakes(x, gamma, beta, eps))

        yield f"batchnorm_forward, x {shape}, against minicnn.plain.batchnorm_forward", vectorised

    for shape, seed in (((5, 2), 3), ((2, 3, 2, 3), 4)):
        x, gamma, beta = _bn_inputs(shape, seed)

        def loops(x=x, gamma=gamma, beta=beta):
            y = call("batchnorm_forward_loops", _function(module, "batchnorm_forward_loops"), x.copy(), gamma, beta, eps)
            expected = _plain().batchnorm_forward(x, gamma, beta, eps)[0]
            return _same_as_mistake("y (loops)", y, expected, _bn_forward_mistakes(x, gamma, beta, eps))

        yield f"batchnorm_forward_loops, x {shape}, against minicnn.plain.batchnorm_forward", loops

    def constant_channel():
        x = np.ones((4, 2, 3, 3))
        y, _ = call("batchnorm_forward", module.batchnorm_forward, x, np.array([2.0, 3.0]), np.array([0.5, -1.0]), eps)
        return compare("y of a constant channel (eps keeps the division finite; x_hat = 0, so y = beta)",
                       y, np.broadcast_to(np.array([0.5, -1.0]).reshape(1, 2, 1, 1), x.shape))

    yield "batchnorm_forward on a constant channel", constant_channel


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
            ("only the direct path is kept: dx = gamma * s * dy, as if mu and var were constants",
             gamma * dy / np.sqrt(var + eps)),
            ("the path through var is missing", gamma * dy / np.sqrt(var + eps) - (gamma * dy / np.sqrt(var + eps)).mean(axis=0))])


# --- bn_backward_compact ----------------------------------------------------------------------------------------
def checks_bn_backward_compact(module):
    eps = 1e-5
    plain = _plain()
    for shape, seed in (((5, 3), 7), ((2, 3, 4, 5), 8), ((2, 4), 9)):
        x, gamma, beta = _bn_inputs(shape, seed)
        dy = _rng(seed + 100).standard_normal(shape)

        def against_plain(x=x, gamma=gamma, beta=beta, dy=dy):
            _, cache = call("batchnorm_forward", _function(module, "batchnorm_forward"), x.copy(), gamma, beta, eps)
            out = call("batchnorm_backward", _function(module, "batchnorm_backward"), dy.copy(), cache)
            if not (isinstance(out, tuple) and len(out) == 3):
                raise CheckFailed("batchnorm_backward must return (dx, dgamma, dbeta)")
            dx, dgamma, dbeta = out
            _, plain_cache = plain.batchnorm_forward(x, gamma, beta, eps)
            expected_dx, expected_dgamma, expected_dbeta = plain.batchnorm_backward(dy, plain_cache)
            lines = [compare("dbeta", dbeta, expected_dbeta), compare("dgamma", dgamma, expected_dgamma)]
            s = _per_channel(1 / np.sqrt(x.var(axis=_channel_axes(x)) + eps), x)
            lines.append(_same_as_mistake("dx", dx, expected_dx, [
                ("mu and var are treated as constants: dx = gamma * inv_std * dy (right in evaluation mode only)",
                 _per_channel(gamma, x) * s * dy)]))
            sums = np.asarray(dx, dtype=np.float64).sum(axis=_channel_axes(x))
            compare("the sum of dx over each channel (it must be 0: adding a constant to a channel changes nothing)",
                    sums, np.zeros_like(sums), atol=1e-8)
            return "; ".join(lines)

        yield f"batchnorm_backward, x {shape}: dx, dgamma, dbeta against minicnn.plain.batchnorm_backward", against_plain

    def finite_differences():
        x, gamma, beta = _bn_inputs((4, 2, 2, 3), 10)
        r = _rng(11).standard_normal(x.shape)
        loss = lambda: float((module.batchnorm_forward(x, gamma, beta, eps)[0] * r).sum())  # noqa: E731
        _, cache = call("batchnorm_forward", module.batchnorm_forward, x.copy(), gamma, beta, eps)
        dx, dgamma, dbeta = call("batchnorm_backward", module.batchnorm_backward, r.copy(), cache)
        return "; ".join([compare("dx", dx, numerical_gradient(loss, x), rtol=1e-5, atol=1e-7),
                          compare("dgamma", dgamma, numerical_gradient(loss, gamma), rtol=1e-5, atol=1e-7),
                          compare("dbeta", dbeta, numerical_gradient(loss, beta), rtol=1e-5, atol=1e-7)])

    yield "batchnorm_backward against centred finite differences of L = sum(y * r)", finite_differences


# --- bn_running -------------------------------------------------------------------------------------------------
def checks_bn_running(module):
    plain = _plain()
    for shape, seed in (((8, 3), 12), ((2, 3, 3, 2), 13)):
        x, gamma, beta = _bn_inputs(shape, seed)
        running_mean, running_var = _rng(seed).standard_normal(3), _rng(seed).uniform(0.5, 2.0, 3)

        def update(x=x, running_mean=running_mean, running_var=running_var):
            before = (running_mean.copy(), running_var.copy())
            out = call("update_running_statistics", _function(module, "update_running_statistics"),
                       running_mean, running_var, x.copy(), 0.3)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise CheckFailed("update_running_statistics must return (running_mean, running_var)")
            if not (np.array_equal(before[0], running_mean) and np.array_equal(before[1], running_var)):
                raise CheckFailed("update_running_statistics changed its input arrays; return new ones instead")
            _, cache = plain.batchnorm_forward(x, np.ones(3), np.zeros(3))
            expected_mean, expected_var = plain.batchnorm_update_running(before[0].copy(), before[1].copy(), cache, 0.3)
            axes = _channel_axes(x)
            return "; ".join([
                _same_as_mistake("running_mean", out[0], expected_mean, [
                    ("momentum weighs the OLD value: running = momentum * running + (1 - momentum) * batch; in "
                     "PyTorch's convention momentum is the weight of the new batch", 0.3 * before[0] + 0.7 * x.mean(axis=axes))]),
                _same_as_mistake("running_var", out[1], expected_var, [
                    ("the batch variance is the biased one (divided by M): the running variance uses the unbiased "
                     "one, var * M / (M - 1)", 0.7 * before[1] + 0.3 * x.var(axis=axes)),
                    ("momentum weighs the OLD value", 0.3 * before[1] + 0.7 * x.var(axis=axes, ddof=1))])])

        yield f"update_running_statistics, x {shape}, momentum 0.3, against minicnn.plain.batchnorm_update_running", update

        def evaluation(x=x, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var):
            y = call("batchnorm_eval_forward", _function(module, "batchnorm_eval_forward"), x.copy(), gamma, beta,
                     running_mean, running_var, 1e-5)
            expected = plain.batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, 1e-5)[0]
            return _same_as_mistake("y (evaluation mode)", y, expected, [
                ("the batch's own statistics are used: evaluation mode uses the running ones",
                 plain.batchnorm_forward(x, gamma, beta, 1e-5)[0])])

        yield f"batchnorm_eval_forward, x {shape}, against minicnn.plain.batchnorm_eval_forward", evaluation


# --- conv_im2col ------------------------------------------------------------------------------------------------
def _im2col_loops(x_pad, KH, KW, stride):
    N, C, Hp, Wp = x_pad.shape
    H_out, W_out = (Hp - KH) // stride + 1, (Wp - KW) // stride + 1
    rows = [[x_pad[n, c, i * stride + p, j * stride + q] for c in range(C) for p in range(KH) for q in range(KW)]
            for n in range(N) for i in range(H_out) for j in range(W_out)]
    return np.array(rows)


def checks_conv_im2col(module):
    plain = _plain()
    rng = _rng(20)
    x_pad = rng.standard_normal((2, 3, 7, 5))

    yield "im2col of a (2, 3, 7, 5) input, 3 x 2 kernel, stride 2, against a loop over windows", \
        lambda: compare("cols", call("im2col", _function(module, "im2col"), x_pad.copy(), 3, 2, 2),
                        _im2col_loops(x_pad, 3, 2, 2),
                        hint="Rows are windows ordered (n, i, j); columns are offsets ordered (c, p, q).")

    def adjoint():
        cols = rng.standard_normal((2 * 3 * 2, 3 * 3 * 2))
        back = call("col2im", _function(module, "col2im"), cols.copy(), x_pad.shape, 3, 2, 2)
        forward = _im2col_loops(x_pad, 3, 2, 2)
        # <im2col(x), cols> = <x, col2im(cols)>: col2im is the adjoint (the transpose) of im2col
        return compare("<x_pad, col2im(cols)> (must equal <im2col(x_pad), cols>)",
                       float((np.asarray(back) * x_pad).sum()), float((forward * cols).sum()))

    yield "col2im is the adjoint of im2col: <im2col(x), c> = <x, col2im(c)>", adjoint

    cases = [((2, 3, 7, 7), (4, 3, 3, 3), True, 2, 1), ((3, 2, 6, 5), (5, 2, 2, 3), False, 1, 0),
             ((1, 1, 13, 13), (2, 1, 5, 5), True, 3, 2)]
    for x_shape, w_shape, with_bias, stride, padding in cases:
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        b = rng.standard_normal(w_shape[0]) if with_bias else None
        label = f"x {x_shape}, w {w_shape}, {'bias' if with_bias else 'no bias'}, stride {stride}, padding {padding}"

        def forward_backward(x=x, w=w, b=b):
            out = call("conv2d_forward", _function(module, "conv2d_forward"), x.copy(), w.copy(),
                       None if b is None else b.copy(), stride, padding)
            expected_y, plain_cache = plain.conv2d_forward(x, w, b, stride, padding)
            lines = [compare("y", out[0], expected_y)]
            dy = _rng(21).standard_normal(expected_y.shape)
            dx, dw, db = call("conv2d_backward", _function(module, "conv2d_backward"), dy.copy(), out[1])
            expected_dx, expected_dw, expected_db = plain.conv2d_backward(dy, plain_cache)
            lines += [compare("dx", dx, expected_dx), compare("dw", dw, expected_dw)]
            if b is None:
                if db is not None:
                    raise CheckFailed("db must be None when the layer has no bias")
            else:
                lines.append(compare("db", db, expected_db))
            return "; ".join(lines)

        yield f"conv2d_forward and conv2d_backward, {label}, against minicnn.plain", forward_backward

    def finite_differences():
        x, w, b = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
        y, cache = call("conv2d_forward", module.conv2d_forward, x.copy(), w.copy(), b.copy(), 1, 1)
        r = _rng(22).standard_normal(np.shape(y))
        loss = lambda: float((module.conv2d_forward(x, w, b, 1, 1)[0] * r).sum())  # noqa: E731
        dx, dw, db = call("conv2d_backward", module.conv2d_backward, r.copy(), cache)
        return "; ".join([compare(name, got, numerical_gradient(loss, value), rtol=1e-5, atol=1e-7)
                          for name, got, value in (("dx", dx, x), ("dw", dw, w), ("db", db, b))])

    yield "conv2d_backward against centred finite differences", finite_differences

    def refuses():
        try:
            module.conv2d_forward(np.zeros((1, 1, 6, 6)), np.zeros((1, 1, 3, 3)), None, 2, 0)
        except ValueError:
            return "ValueError for (6 - 3) / 2 + 1 = 2.5 rows"
        except NotImplementedError:
            raise CheckFailed("conv2d_forward is not written yet") from None
        raise CheckFailed("conv2d_forward accepted a 6 x 6 input with a 3 x 3 kernel and stride 2, whose output size "
                          "(6 - 3) / 2 + 1 = 2.5 is not an integer; raise ValueError as minicnn does")

    yield "conv2d_forward refuses a non-integral output size", refuses


# --- maxpool_ties -----------------------------------------------------------------------------------------------
def checks_maxpool_ties(module):
    plain = _plain()
    rng = _rng(30)
    for x_shape, K, S in (((2, 3, 7, 7), 3, 2), ((1, 2, 6, 4), 2, 2), ((2, 1, 5, 6), 2, 1)):
        x = rng.integers(0, 3, x_shape).astype(np.float64)   # few distinct values: many ties

        def forward_backward(x=x, K=K, S=S):
            out = call("maxpool2d_forward", _function(module, "maxpool2d_forward"), x.copy(), K, S)
            expected_y, plain_cache = plain.maxpool2d_forward(x, K, S, 0)
            lines = [compare("y", out[0], expected_y)]
            dy = _rng(31).uniform(0.5, 1.5, expected_y.shape)
            dx = call("maxpool2d_backward", _function(module, "maxpool2d_backward"), dy.copy(), out[1])
            expected_dx = plain.maxpool2d_backward(dy, plain_cache)
            compare("the sum of dx (every dy is routed whole to one input, so it must equal the sum of dy)",
                    float(np.asarray(dx).sum()), float(dy.sum()))
            lines.append(compare("dx", dx, expected_dx,
                                 hint="With ties, the first maximum of the window in row-major order takes all of "
                                      "dy; where windows overlap, an input collects from every window it won."))
            return "; ".join(lines)

        yield f"maxpool2d forward and backward, x {x_shape} of the values 0, 1, 2 (ties), {K} x {K} stride {S}", \
            forward_backward


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
                    ("the loss is summed over the batch instead of averaged", np.float64(expected_loss * N))]),
                _same_as_mistake("dlogits", out[1], expected_dlogits, [
                    ("dlogits is not divided by the batch size N (the loss is a mean)", expected_dlogits * N)])])

        yield f"softmax_cross_entropy on {what}, against minicnn.plain.softmax_cross_entropy", against_plain

    def finite_differences():
        logits, labels = rng.standard_normal((3, 4)), np.array([0, 3, 1])
        _, dlogits = call("softmax_cross_entropy", module.softmax_cross_entropy, logits.copy(), labels)
        loss = lambda: float(module.softmax_cross_entropy(logits, labels)[0])  # noqa: E731
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
        loss = lambda: float((module.forward(x, w, b)[0] * r).sum())  # noqa: E731
        _, cache = call("forward", module.forward, x.copy(), w.copy(), b.copy())
        out = call("backward", _function(module, "backward"), r.copy(), cache)
        lines, failures = [], []
        for name, got, value in zip(("dx", "dw", "db"), out, (x, w, b)):
            try:
                lines.append(compare(name, got, numerical_gradient(loss, value), rtol=1e-5, atol=1e-8))
            except CheckFailed as error:
                failures.append(str(error))
        if failures:
            raise CheckFailed(" | ".join(failures))
        return "; ".join(lines)

    yield "backward: dx, dw and db against centred finite differences of L = sum(y * r)", gradients
