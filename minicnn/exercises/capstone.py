"""Your own layers as minicnn's tier: the exercise files of a folder, checked op by op, then trained with.

    python docs/capstone.py mywork       # the command (it needs femur_app for the data and the network)

``tier_from_exercises(folder)`` loads the exercise files of a folder - ``bn_forward.py``, ``bn_backward_compact.py``,
``bn_running.py``, ``conv_im2col.py``, ``maxpool_ties.py``, ``linear_relu_dropout.py``, ``softmax_ce.py``,
``sgd_momentum.py``, as ``python -m minicnn.exercises start`` wrote them and you filled them in - each watched as
the checker watches it (``minicnn.exercises.guard``: no minicnn code, no framework), and builds from them a
module with every function of ``minicnn.plain.OPS`` and its exact parameters: a tier that
``minicnn.set_tier`` accepts. Each of its functions is a thin adapter that calls your function and only
translates the conventions the exercises leave out:

    conv2d / maxpool2d   minicnn passes padding as ((top, bottom), (left, right)) and AlexNet's conv1 pads one
                         row more on top than at the bottom; your functions take one padding for every side. An
                         uneven padding is added here (zeros, or -inf for max pooling) and your function runs with
                         padding 0; the gradient of the padded input is cut back to the input's size here.
    need_dx              minicnn's layers ask the first layer for no input gradient: yours is dropped.
    caches               your cache is kept as it is, inside a small record carrying the one field the layer
                         reads (its ``x``, ``x_pad_shape``, ``x_hat`` shape or ``mask``).
    batch norm           y comes from your ``bn_forward.batchnorm_forward``; the cache for the backward from the
                         forward given in your ``bn_backward_compact.py``, for your ``batchnorm_backward``; the
                         running statistics and evaluation mode from ``bn_running.py``.
    dtype                training runs in float32: each result is converted to its input's dtype.
    average pooling and  not among the exercises, and AlexNet-BN's training never calls them: the adapter
    class weights        raises NotImplementedError saying so.

``check_ops(tier)`` then runs every op of that tier beside ``minicnn.plain`` on random float64 inputs with
AlexNet's geometries (11 x 11 stride 4 with uneven padding, overlapping 3 x 3 stride 2 pools with padding, ties)
and stops at the first op that differs. ``learning_curve`` trains a network under a tier, epoch by epoch.
"""
from __future__ import annotations

import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from minicnn import exercises, plain
from minicnn.exercises.checks import CheckFailed, compare

NEEDED = ("bn_forward", "bn_backward_compact", "bn_running", "conv_im2col", "maxpool_ties", "linear_relu_dropout",
          "softmax_ce", "sgd_momentum")
OP_SOURCE = {  # which exercise file each op of the tier comes from
    "conv2d_forward": "conv_im2col", "conv2d_backward": "conv_im2col", "maxpool2d_forward": "maxpool_ties",
    "maxpool2d_backward": "maxpool_ties", "relu_forward": "linear_relu_dropout", "relu_backward": "linear_relu_dropout",
    "batchnorm_forward": "bn_forward", "batchnorm_backward": "bn_backward_compact",
    "batchnorm_update_running": "bn_running", "batchnorm_eval_forward": "bn_running",
    "batchnorm_eval_backward": "bn_running", "dropout_forward": "linear_relu_dropout",
    "dropout_backward": "linear_relu_dropout", "linear_forward": "linear_relu_dropout",
    "linear_backward": "linear_relu_dropout", "softmax_cross_entropy": "softmax_ce", "sgd_step": "sgd_momentum"}


class CapstoneError(Exception):
    """A folder that cannot become a tier (a file missing, refused or not importable); one line."""


# --- the adapters' caches: the learner's cache, and the one field a layer reads -----------------------------------
@dataclass
class ConvCache:
    inner: object
    x_pad_shape: tuple      # read by Conv2d: (N, C, Hp, Wp) with minicnn's padding
    added_padding: tuple | None  # ((top, bottom), (left, right)) added here for an uneven padding, else None


@dataclass
class PoolCache:
    inner: object
    added_padding: tuple | None


@dataclass
class BatchNormCache:
    inner: object
    x: np.ndarray           # the input: batch_norm_update_running needs the batch, and the layer reads x_hat's shape
    eval_args: tuple = ()   # evaluation mode: (gamma, running_mean, running_var, eps)

    @property
    def x_hat(self):
        """An array of x_hat's shape - the layer reads only ``x_hat.shape`` (x_hat itself is in ``inner``)."""
        return self.x


@dataclass
class LinearCache:
    inner: object
    x: np.ndarray           # read by Linear: x.shape


@dataclass
class DropoutCache:
    inner: object
    mask: object = field(default=True)  # read by Dropout: only whether it is None (the identity)


def _padding(padding):
    """minicnn's padding (an int, (ph, pw) or ((top, bottom), (left, right))) -> ((top, bottom), (left, right))."""
    if np.isscalar(padding):
        return (int(padding), int(padding)), (int(padding), int(padding))
    first, second = padding
    pair = [(int(p), int(p)) if np.isscalar(p) else (int(p[0]), int(p[1])) for p in (first, second)]
    return tuple(pair[0]), tuple(pair[1])


def _one(value, what: str, op: str) -> int:
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if pair[0] != pair[1]:
        raise NotImplementedError(f"{op}: your function takes one {what} for both axes; this layer has {pair}")
    return int(pair[0])


def _same_dtype(array, like):
    return None if array is None else np.asarray(array).astype(like.dtype, copy=False)


def tier_from_exercises(folder) -> types.ModuleType:
    """The tier made of the exercise files in ``folder`` (see the module docstring); CapstoneError when a file is
    missing, is refused or does not import."""
    folder = Path(folder)
    files = {}
    for name in NEEDED:
        path = folder / f"{name}.py"
        if not path.is_file():
            raise CapstoneError(f"{path}: no such file (start it with `python -m minicnn.exercises start {name} "
                                f"{folder}` and fill it in; the capstone needs {', '.join(NEEDED)})")
        try:
            files[name] = exercises.load(path, f"capstone_{name}")
        except exercises.Refused as error:
            raise CapstoneError(f"refused: {error}") from None
        except CheckFailed as error:
            raise CapstoneError(str(error)) from None
    conv, pool, layers = files["conv_im2col"], files["maxpool_ties"], files["linear_relu_dropout"]
    bn, bn_compact, bn_running = files["bn_forward"], files["bn_backward_compact"], files["bn_running"]
    tier = types.ModuleType(f"your tier ({folder})", f"minicnn's tier made of the exercise files in {folder}")
    tier.files = files

    def conv2d_forward(x, w, b, stride, padding):
        (top, bottom), (left, right) = pads = _padding(padding)
        S = _one(stride, "stride", "conv2d_forward")
        even = top == bottom == left == right
        x_in = x if even else np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
        y, inner = conv.conv2d_forward(x_in, w, b, S, top if even else 0)
        x_pad_shape = (x.shape[0], x.shape[1], x.shape[2] + top + bottom, x.shape[3] + left + right)
        return _same_dtype(y, x), ConvCache(inner, x_pad_shape, None if even else pads)

    def conv2d_backward(dy, cache, *, need_dx=True):
        dx, dw, db = conv.conv2d_backward(dy, cache.inner)
        if cache.added_padding is not None and dx is not None:
            (top, bottom), (left, right) = cache.added_padding
            dx = np.asarray(dx)[:, :, top:dx.shape[2] - bottom, left:dx.shape[3] - right]
        return (_same_dtype(dx, dy) if need_dx else None), _same_dtype(dw, dy), _same_dtype(db, dy)

    def maxpool2d_forward(x, kernel_size, stride, padding):
        K, S = _one(kernel_size, "kernel size", "maxpool2d_forward"), _one(stride, "stride", "maxpool2d_forward")
        (top, bottom), (left, right) = pads = _padding(padding)
        padded = any((top, bottom, left, right))
        x_in = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=-np.inf) if padded else x
        y, inner = pool.maxpool2d_forward(x_in, K, S)
        return _same_dtype(y, x), PoolCache(inner, pads if padded else None)

    def maxpool2d_backward(dy, cache):
        dx = np.asarray(pool.maxpool2d_backward(dy, cache.inner))
        if cache.added_padding is not None:
            (top, bottom), (left, right) = cache.added_padding
            dx = dx[:, :, top:dx.shape[2] - bottom, left:dx.shape[3] - right]
        return _same_dtype(dx, dy)

    def avgpool2d_forward(x, kernel_size, stride, padding):
        raise NotImplementedError("avgpool2d_forward: average pooling is not one of the exercises, and AlexNet-BN "
                                  "does not use it")

    def avgpool2d_backward(dy, cache):
        raise NotImplementedError("avgpool2d_backward: average pooling is not one of the exercises")

    def relu_forward(x):
        y, inner = layers.relu_forward(x)
        return _same_dtype(y, x), inner

    def relu_backward(dy, cache):
        return _same_dtype(layers.relu_backward(dy, cache), dy)

    def batchnorm_forward(x, gamma, beta, eps=1e-5):
        y, _ = bn.batchnorm_forward(x, gamma, beta, eps)
        _, inner = bn_compact.batchnorm_forward(x, gamma, beta, eps)  # the cache your batchnorm_backward reads
        return _same_dtype(y, x), BatchNormCache(inner, x)

    def batchnorm_backward(dy, cache):
        dx, dgamma, dbeta = bn_compact.batchnorm_backward(dy, cache.inner)
        return _same_dtype(dx, dy), _same_dtype(dgamma, dy), _same_dtype(dbeta, dy)

    def batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps=1e-5):
        y = bn_running.batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps)
        return _same_dtype(y, x), BatchNormCache(None, x, (gamma, running_mean, running_var, eps))

    def batchnorm_eval_backward(dy, cache):
        dx, dgamma, dbeta = bn_running.batchnorm_eval_backward(dy, cache.x, *cache.eval_args)
        return _same_dtype(dx, dy), _same_dtype(dgamma, dy), _same_dtype(dbeta, dy)

    def batchnorm_update_running(running_mean, running_var, cache, momentum):
        mean, var = bn_running.update_running_statistics(running_mean, running_var, cache.x, momentum)
        return _same_dtype(mean, running_mean), _same_dtype(var, running_var)

    def dropout_forward(x, p_drop, rng):
        y, inner = layers.dropout_forward(x, p_drop, rng)
        return _same_dtype(y, x), DropoutCache(inner)

    def dropout_backward(dy, cache):
        return _same_dtype(layers.dropout_backward(dy, cache.inner), dy)

    def linear_forward(x, w, b):
        y, inner = layers.linear_forward(x, w, b)
        return _same_dtype(y, x), LinearCache(inner, x)

    def linear_backward(dy, cache, *, need_dx=True):
        dx, dw, db = layers.linear_backward(dy, cache.inner)
        return (_same_dtype(dx, dy) if need_dx else None), _same_dtype(dw, dy), _same_dtype(db, dy)

    def softmax_cross_entropy(logits, labels, class_weights=None):
        if class_weights is not None:
            raise NotImplementedError("softmax_cross_entropy: class weights are not part of the softmax_ce exercise")
        loss, dlogits = files["softmax_ce"].softmax_cross_entropy(logits, labels)
        return float(loss), _same_dtype(dlogits, logits)

    def sgd_step(param, grad, velocity, lr, momentum=0.0, nesterov=False, l2=0.0):
        param_new, velocity_new = files["sgd_momentum"].sgd_step(param, grad, velocity, lr, momentum, nesterov, l2)
        return _same_dtype(param_new, param), _same_dtype(velocity_new, param)

    for op in plain.OPS:
        function = locals()[op]
        function.__qualname__ = function.__name__ = op
        setattr(tier, op, function)
    tier.OPS = plain.OPS
    return tier


# --- op by op against minicnn.plain -------------------------------------------------------------------------------
def _cases():
    """(op description, the exercise, a function(tier) -> "ok" text) in the order data flows through AlexNet-BN."""
    rng = np.random.default_rng(100)

    def conv(x_shape, w_shape, stride, padding, bias, need_dx=True):
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        b = rng.standard_normal(w_shape[0]) if bias else None
        dy_seed = int(rng.integers(1000))

        def run(tier):
            y, cache = tier.conv2d_forward(x, w, b, stride, padding)
            expected_y, plain_cache = plain.conv2d_forward(x, w, b, stride, padding)
            lines = [compare("conv2d_forward: y", y, expected_y)]
            dy = np.random.default_rng(dy_seed).standard_normal(expected_y.shape)
            dx, dw, db = tier.conv2d_backward(dy, cache, need_dx=need_dx)
            expected = plain.conv2d_backward(dy, plain_cache, need_dx=need_dx)
            if need_dx:
                lines.append(compare("conv2d_backward: dx", dx, expected[0]))
            lines.append(compare("conv2d_backward: dw", dw, expected[1]))
            if bias:
                lines.append(compare("conv2d_backward: db", db, expected[2]))
            return "; ".join(lines)

        return run

    def pool(x, kernel, stride, padding):
        def run(tier):
            y, cache = tier.maxpool2d_forward(x, kernel, stride, padding)
            expected_y, plain_cache = plain.maxpool2d_forward(x, kernel, stride, padding)
            dy = np.random.default_rng(3).uniform(0.5, 1.5, expected_y.shape)
            return "; ".join([compare("maxpool2d_forward: y", y, expected_y),
                              compare("maxpool2d_backward: dx", tier.maxpool2d_backward(dy, cache),
                                      plain.maxpool2d_backward(dy, plain_cache))])

        return run

    def relu(tier):
        x = rng.integers(-2, 3, (3, 4, 5, 5)).astype(np.float64) * rng.uniform(0.5, 1.5, (3, 4, 5, 5))
        y, cache = tier.relu_forward(x)
        expected_y, plain_cache = plain.relu_forward(x)
        dy = np.random.default_rng(4).standard_normal(x.shape)
        return "; ".join([compare("relu_forward: y", y, expected_y),
                          compare("relu_backward: dx", tier.relu_backward(dy, cache),
                                  plain.relu_backward(dy, plain_cache))])

    def batchnorm(shape):
        x = rng.standard_normal(shape) * 2 + 1
        C = shape[1]
        gamma, beta = rng.uniform(0.5, 1.5, C) * np.where(np.arange(C) % 2, -1, 1), rng.standard_normal(C)
        running_mean, running_var = rng.standard_normal(C), rng.uniform(0.5, 2, C)

        def run(tier):
            y, cache = tier.batchnorm_forward(x, gamma, beta, 1e-5)
            expected_y, plain_cache = plain.batchnorm_forward(x, gamma, beta, 1e-5)
            dy = np.random.default_rng(5).standard_normal(shape)
            lines = [compare("batchnorm_forward: y", y, expected_y)]
            for what, got, expected in zip(("dx", "dgamma", "dbeta"), tier.batchnorm_backward(dy, cache),
                                           plain.batchnorm_backward(dy, plain_cache)):
                lines.append(compare(f"batchnorm_backward: {what}", got, expected))
            for what, got, expected in zip(("running_mean", "running_var"),
                                           tier.batchnorm_update_running(running_mean.copy(), running_var.copy(),
                                                                         cache, 0.1),
                                           plain.batchnorm_update_running(running_mean.copy(), running_var.copy(),
                                                                          plain_cache, 0.1)):
                lines.append(compare(f"batchnorm_update_running: {what}", got, expected))
            y, cache = tier.batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, 1e-5)
            expected_y, plain_cache = plain.batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, 1e-5)
            lines.append(compare("batchnorm_eval_forward: y", y, expected_y))
            for what, got, expected in zip(("dx", "dgamma", "dbeta"), tier.batchnorm_eval_backward(dy, cache),
                                           plain.batchnorm_eval_backward(dy, plain_cache)):
                lines.append(compare(f"batchnorm_eval_backward: {what}", got, expected))
            return "; ".join(lines)

        return run

    def dropout(tier):
        x = rng.standard_normal((4, 33))
        y, cache = tier.dropout_forward(x, 0.6, np.random.default_rng(6))
        expected_y, plain_cache = plain.dropout_forward(x, 0.6, np.random.default_rng(6))
        dy = np.random.default_rng(7).standard_normal(x.shape)
        return "; ".join([compare("dropout_forward: y (the same generator must give the same mask)", y, expected_y),
                          compare("dropout_backward: dx", tier.dropout_backward(dy, cache),
                                  plain.dropout_backward(dy, plain_cache))])

    def linear(bias, need_dx):
        x, w = rng.standard_normal((5, 12)), rng.standard_normal((7, 12))
        b = rng.standard_normal(7) if bias else None

        def run(tier):
            y, cache = tier.linear_forward(x, w, b)
            expected_y, plain_cache = plain.linear_forward(x, w, b)
            dy = np.random.default_rng(8).standard_normal(expected_y.shape)
            dx, dw, db = tier.linear_backward(dy, cache, need_dx=need_dx)
            expected = plain.linear_backward(dy, plain_cache, need_dx=need_dx)
            lines = [compare("linear_forward: y", y, expected_y), compare("linear_backward: dw", dw, expected[1])]
            if need_dx:
                lines.append(compare("linear_backward: dx", dx, expected[0]))
            if bias:
                lines.append(compare("linear_backward: db", db, expected[2]))
            return "; ".join(lines)

        return run

    def softmax(tier):
        logits, labels = rng.standard_normal((6, 2)) * 3, rng.integers(0, 2, 6)
        loss, dlogits = tier.softmax_cross_entropy(logits, labels)
        expected_loss, expected_dlogits = plain.softmax_cross_entropy(logits, labels)
        return "; ".join([compare("softmax_cross_entropy: loss", np.float64(loss), np.float64(expected_loss)),
                          compare("softmax_cross_entropy: dlogits", dlogits, expected_dlogits)])

    def sgd(tier):
        param, velocity, expected_velocity = rng.standard_normal((4, 5)), None, None
        expected_param = param.copy()
        for step in range(3):
            grad = np.random.default_rng(9 + step).standard_normal(param.shape)
            param, velocity = tier.sgd_step(param, grad, velocity, 0.05, 0.9, True, 0.01)
            expected_param, expected_velocity = plain.sgd_step(expected_param, grad, expected_velocity, 0.05, 0.9,
                                                               True, 0.01)
        return "; ".join([compare("sgd_step: param after 3 steps", param, expected_param),
                          compare("sgd_step: velocity after 3 steps", velocity, expected_velocity)])

    # the geometries of the reduced AlexNet-BN: conv1 11x11 stride 4 padded ((2, 1), (2, 1)), conv2 5x5 padding
    # 2, conv3-5 3x3 padding 1 (the first layer asks for no dx); pools 3x3 stride 2 on an odd and an even size
    ties = rng.integers(0, 3, (2, 3, 8, 8)).astype(np.float64)
    return [
        ("conv2d, 11 x 11 stride 4, padding ((2, 1), (2, 1)), no dx (conv1)", "conv_im2col",
         conv((2, 1, 20, 20), (3, 1, 11, 11), 4, ((2, 1), (2, 1)), False, need_dx=False)),
        ("conv2d, 5 x 5, padding 2, bias", "conv_im2col", conv((2, 3, 7, 7), (4, 3, 5, 5), 1, 2, True)),
        ("conv2d, 3 x 3, padding 1, bias", "conv_im2col", conv((3, 2, 5, 6), (3, 2, 3, 3), 1, 1, True)),
        ("batchnorm, x (3, 4, 5, 5): training forward and backward, running statistics, evaluation mode",
         "bn_forward, bn_backward_compact, bn_running", batchnorm((3, 4, 5, 5))),
        ("relu on values with exact zeros", "linear_relu_dropout", relu),
        ("maxpool2d 3 x 3 stride 2 on 9 x 9", "maxpool_ties", pool(rng.standard_normal((2, 3, 9, 9)), 3, 2, 0)),
        ("maxpool2d 3 x 3 stride 2 on 8 x 8 of the values 0, 1, 2 (ties), padding ((0, 1), (0, 1))", "maxpool_ties",
         pool(ties, 3, 2, ((0, 1), (0, 1)))),
        ("linear with bias", "linear_relu_dropout", linear(True, True)),
        ("linear, no dx asked", "linear_relu_dropout", linear(True, False)),
        ("dropout, p_drop 0.6", "linear_relu_dropout", dropout),
        ("softmax_cross_entropy", "softmax_ce", softmax),
        ("sgd_step, Nesterov momentum 0.9, L2 0.01", "sgd_momentum", sgd),
    ]


@dataclass(frozen=True)
class OpResult:
    op: str
    exercise: str
    passed: bool
    message: str


def check_ops(tier, out=print) -> list[OpResult]:
    """Every op of ``tier`` against minicnn.plain, in the order data flows; stops at the first that differs."""
    results = []
    for description, exercise, run in _cases():
        try:
            message = run(tier)
            results.append(OpResult(description, exercise, True, message))
            out(f"ok   {description}")
        except (CheckFailed, exercises.Refused) as error:
            results.append(OpResult(description, exercise, False, str(error)))
            out(f"FAIL {description}\n     {error}")
            break
        except Exception as error:  # the learner's function raised: say which
            results.append(OpResult(description, exercise, False, f"{type(error).__name__}: {error}"))
            out(f"FAIL {description}\n     {type(error).__name__}: {error}")
            break
    for name, module in getattr(tier, "files", {}).items():
        tampered = module.tampered()
        if tampered:
            results.append(OpResult("what the files use", name, False, f"refused: {tampered}"))
            out(f"FAIL what the files use\n     refused: {tampered}")
            break
    return results


# --- training under a tier ----------------------------------------------------------------------------------------
def learning_curve(make_model, tier, X, y, train_idx, held_idx, *, epochs: int, lr: float, batch_size: int,
                   momentum: float = 0.9, seed: int = 0, on_epoch=None) -> list[dict]:
    """Train ``make_model()`` under ``tier`` with minicnn.train_step, every training case once per epoch in an
    order drawn from ``seed``; per epoch the mean training loss and the held-out loss and accuracy (evaluation
    mode). The same arguments give the same batches under any tier."""
    from minicnn import tiers
    from minicnn.losses import softmax_cross_entropy
    from minicnn.optim import SGD
    from minicnn.step import train_step

    with tiers.tier(tier):
        model = make_model()
        optimizer = SGD(model, lr=lr, momentum=momentum)
        order_rng = np.random.default_rng(seed)
        curve = []
        for epoch in range(1, epochs + 1):
            order = order_rng.permutation(train_idx)
            losses = []
            for first in range(0, len(order), batch_size):
                batch = order[first:first + batch_size]
                if len(batch) < 2:
                    continue
                step = train_step(model, optimizer, X[batch], y[batch])
                if not step.finite:
                    curve.append({"epoch": epoch, "train_loss": float("nan"), "held_loss": float("nan"),
                                  "held_acc": float("nan")})
                    return curve
                losses.append(step.loss)
            logits = np.concatenate([model.forward(X[held_idx[i:i + 64]], train=False)
                                     for i in range(0, len(held_idx), 64)])
            held_loss, _ = softmax_cross_entropy(logits.astype(np.float64), y[held_idx])
            curve.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "held_loss": float(held_loss),
                          "held_acc": float((logits.argmax(axis=1) == y[held_idx]).mean())})
            if on_epoch:
                on_epoch(curve[-1])
    return curve
