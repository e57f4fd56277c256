"""The tier is an extension point: ``minicnn.set_tier`` / ``minicnn.tier`` take "plain", "fast", a module or a path to
a learner's Python files that provide the plain tier's functions; an incomplete or mis-signed one is refused with
one line naming the function; a module that is a tier trains exactly as the plain tier does."""
from __future__ import annotations

import inspect
import types

import numpy as np
import pytest

import minicnn
from minicnn import plain, tiers
from minicnn.layers import BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential
from minicnn.optim import SGD


def copy_of_plain(name="my_tier", **replace) -> types.ModuleType:
    """A module holding every plain function (wrapped, so that it is not minicnn.plain itself), some replaced."""
    module = types.ModuleType(name)
    for op in plain.OPS:
        setattr(module, op, replace.get(op, getattr(plain, op)))
    return module


def small_net(seed=0):
    rng = np.random.default_rng(seed)
    model = Sequential(Conv2d(1, 4, 3, 1, ((2, 0), (2, 0)), bias=False, rng=rng), BatchNorm2d(4), ReLU(),
                       MaxPool2d(3, 2), Flatten(), Linear(4 * 4 * 4, 8, rng=rng), ReLU(),
                       Dropout(0.5, rng=np.random.default_rng(seed + 1)), Linear(8, 2, rng=rng)).astype(np.float64)
    model.needs_input_grad = False
    return model


def three_steps(t):
    rng = np.random.default_rng(3)
    x, labels = rng.standard_normal((6, 1, 9, 9)), rng.integers(0, 2, 6)
    with minicnn.tier(t):
        model = small_net()
        optimizer = SGD(model, lr=0.1, momentum=0.9)
        losses = [minicnn.train_step(model, optimizer, x, labels).loss for _ in range(3)]
    return losses, model.state_dict()


def test_a_module_with_the_plain_functions_is_a_tier_and_trains_as_plain_does():
    calls = []

    def counting(op):
        function = getattr(plain, op)

        def wrapper(*args, **kwargs):
            calls.append(op)
            return function(*args, **kwargs)

        wrapper.__signature__ = inspect.signature(function)  # the same parameters, as a learner's own function has
        return wrapper

    mine = copy_of_plain(**{op: counting(op) for op in plain.OPS})
    minicnn.set_tier(mine)
    try:
        assert minicnn.get_tier() == "my_tier" and tiers.ops() is mine
    finally:
        minicnn.set_tier("fast")
    losses, state = three_steps(mine)
    plain_losses, plain_state = three_steps("plain")
    assert losses == plain_losses and all(np.array_equal(state[k], plain_state[k]) for k in state)
    assert {"conv2d_forward", "batchnorm_backward", "dropout_forward", "sgd_step", "softmax_cross_entropy"} <= set(calls)
    assert minicnn.get_tier() == "fast"


def test_an_incomplete_module_is_refused_with_one_line_naming_the_function():
    incomplete = copy_of_plain()
    del incomplete.batchnorm_backward
    with pytest.raises(ValueError) as refused:
        minicnn.set_tier(incomplete)
    message = str(refused.value)
    assert message == ("minicnn.set_tier: my_tier has no function batchnorm_backward; a tier needs every function of "
                       "minicnn.plain.OPS") and "\n" not in message
    assert minicnn.get_tier() == "fast"  # nothing changed


def test_a_mis_signed_function_is_refused_naming_both_signatures():
    def conv2d_backward(dy, cache):  # no need_dx
        raise NotImplementedError

    with pytest.raises(ValueError, match=r"^minicnn.set_tier: my_tier.conv2d_backward\(dy, cache\) does not match "
                                         r"minicnn.plain.conv2d_backward\(dy, cache, \*, need_dx=True\)$"):
        minicnn.set_tier(copy_of_plain(conv2d_backward=conv2d_backward))

    def batchnorm_forward(x, gamma, beta, eps=1e-3):  # another default
        raise NotImplementedError

    with pytest.raises(ValueError, match=r"batchnorm_forward\(x, gamma, beta, eps=0.001\) does not match"):
        with minicnn.tier(copy_of_plain(batchnorm_forward=batchnorm_forward)):
            pass
    with pytest.raises(ValueError, match="my_tier.relu_forward is a int, not a function"):
        minicnn.set_tier(copy_of_plain(relu_forward=3))


def test_the_plain_signatures_are_read_at_run_time(monkeypatch):
    """A change of a plain function's parameters changes what a tier must have, with nothing else to edit."""
    mine = copy_of_plain()
    minicnn.set_tier(mine)
    minicnn.set_tier("fast")

    def relu_forward(x, inplace=False):
        return x

    monkeypatch.setattr(plain, "relu_forward", relu_forward)
    with pytest.raises(ValueError, match=r"my_tier.relu_forward\(x\) does not match minicnn.plain.relu_forward"):
        minicnn.set_tier(mine)


def test_a_folder_of_files_is_a_tier(tmp_path):
    folder = tmp_path / "mytier"
    folder.mkdir()
    ops = list(plain.OPS)
    for part, chosen in enumerate((ops[:7], ops[7:])):  # two files; each function forwards to the plain tier's
        lines = ["from minicnn import plain\n"]
        for op in chosen:
            parameters = str(inspect.signature(getattr(plain, op)))
            arguments = ", ".join(f"{p}={p}" if kind == inspect.Parameter.KEYWORD_ONLY else p
                                  for p, kind in ((q.name, q.kind) for q in inspect.signature(getattr(plain, op))
                                                  .parameters.values()))
            lines.append(f"\n\ndef {op}{parameters}:\n    return plain.{op}({arguments})\n")
        (folder / f"part{part}.py").write_text("".join(lines))
    (folder / "notes.txt").write_text("not Python: ignored")
    with minicnn.tier(folder) as module:
        assert minicnn.get_tier() == str(folder)
        assert module.conv2d_forward.__module__.endswith("part0") and module.sgd_step.__module__.endswith("part1")
    assert minicnn.get_tier() == "fast"
    losses, _ = three_steps(str(folder))
    assert losses == three_steps("plain")[0]
    (folder / "part2.py").write_text((folder / "part1.py").read_text())  # every op of part1 defined twice
    with pytest.raises(ValueError, match=rf"{ops[7]} is defined in both .*part1.py and .*part2.py; keep one"):
        minicnn.set_tier(folder)
    (folder / "part2.py").unlink()
    (folder / "part1.py").write_text("raise RuntimeError('broken')\n")
    with pytest.raises(ValueError, match=r"part1.py could not be imported \(RuntimeError: broken\)"):
        minicnn.set_tier(folder)
    (folder / "part1.py").unlink()
    with pytest.raises(ValueError, match=f"{folder} has no function {ops[7]}; a tier needs every function"):
        minicnn.set_tier(str(folder))
    with pytest.raises(ValueError, match="no such folder or .py file"):
        minicnn.set_tier(tmp_path / "missing")


def test_the_words_still_work():
    with pytest.raises(ValueError, match=r"expected one of \['fast', 'plain'\], got 'slow'"):
        minicnn.set_tier("slow")
    with minicnn.tier("plain") as module:
        assert module is plain and minicnn.get_tier() == "plain"
    assert minicnn.get_tier() == "fast"


def test_the_worked_solutions_are_a_tier_and_agree_with_plain_op_by_op():
    from minicnn.exercises import SOLUTIONS, capstone

    tier = capstone.tier_from_exercises(SOLUTIONS)
    tiers.validate(tier, tier.__name__)  # every function, the plain signatures
    assert all(result.passed for result in capstone.check_ops(tier, out=lambda line: None))
    with pytest.raises(NotImplementedError, match="average pooling is not one of the exercises"):
        tier.avgpool2d_forward(np.zeros((1, 1, 4, 4)), 2, 2, 0)
