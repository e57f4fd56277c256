"""Exercises with a checker: fill in a forward or backward pass, and let the checker say what is wrong.

    python -m minicnn.exercises list                      # the exercises, in the order of the chapters
    python -m minicnn.exercises start bn_forward mywork   # copies the stub to mywork/bn_forward.py
    python -m minicnn.exercises check bn_forward --file mywork/bn_forward.py
    python -m minicnn.exercises check bn_forward --show-solution

Each exercise is a Python file of functions whose bodies raise ``NotImplementedError`` (the *stub*, in
``minicnn/exercises/stubs/``). The checker loads your copy, calls your functions on random inputs of awkward
shapes in float64 and compares the results with minicnn's plain tier (``minicnn.plain``), with centred finite
differences and with the identities of the chapter. A failed check names the function and the array (``dgamma``,
``dx``), its shape, the largest difference and where it is, and a hint when the error has a recognisable form
(a constant factor, a transpose, a sign). ``check`` exits with status 0 only when every check passes.

The worked answers are in ``minicnn/exercises/solutions/`` - look only after trying (``--show-solution``).
The checks themselves are in ``minicnn/exercises/catalogue.py``.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from minicnn.exercises.checks import CheckFailed

HERE = Path(__file__).resolve().parent
STUBS = HERE / "stubs"
SOLUTIONS = HERE / "solutions"


@dataclass(frozen=True)
class Exercise:
    name: str
    title: str
    chapter: str  # where the maths is explained


@dataclass(frozen=True)
class Result:
    check: str    # what was checked, e.g. "dx against minicnn.plain.batchnorm_backward, (6, 3)"
    passed: bool
    message: str  # "ok" detail, or what is wrong


EXERCISES = [
    Exercise("bn_forward", "batch normalisation forward, equations (3)-(6), as loops and vectorised",
             "docs/batchnorm.md section 2.2"),
    Exercise("bn_backward_nodes", "batch normalisation backward node by node: dbeta, dgamma, dx_hat, dvar, dmu, dx",
             "docs/batchnorm.md section 2.3, 'The same result the long way'"),
    Exercise("bn_backward_compact", "batch normalisation backward, the compact formula with two reductions",
             "docs/batchnorm.md section 2.3, step 4"),
    Exercise("bn_running", "running statistics (unbiased variance, momentum) and evaluation mode",
             "docs/batchnorm.md section 2.5"),
    Exercise("conv_im2col", "convolution forward and backward through im2col and one matrix product",
             "docs/convolution.md sections 3.2-3.4"),
    Exercise("maxpool_ties", "max pooling forward and backward; the first maximum wins a tie",
             "docs/convolution.md section 3.5"),
    Exercise("softmax_ce", "softmax cross-entropy, numerically stable, and its gradient",
             "docs/convolution.md section 3.8"),
    Exercise("sgd_momentum", "one SGD step with momentum (and Nesterov) and L2, as PyTorch computes it",
             "docs/convolution.md sections 3.9-3.10"),
    Exercise("bug_hunt", "find the planted bug in a layer's backward pass with a gradient check",
             "docs/backprop.md section 1.4"),
]
BY_NAME = {exercise.name: exercise for exercise in EXERCISES}


def get(name: str) -> Exercise:
    if name not in BY_NAME:
        raise KeyError(f"no exercise named {name!r}; the exercises are: {', '.join(BY_NAME)}")
    return BY_NAME[name]


def stub_path(name: str) -> Path:
    return STUBS / f"{get(name).name}.py"


def solution_path(name: str) -> Path:
    return SOLUTIONS / f"{get(name).name}.py"


def load(path, module_name: str):
    """Import the Python file at ``path`` as a fresh module (nothing is cached between checks)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (start an exercise with "
                                f"`python -m minicnn.exercises start NAME DIR`)")
    spec = importlib.util.spec_from_file_location(f"minicnn_exercise_{module_name}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # a syntax error or a failing import in the learner's file
        raise CheckFailed(f"{path} could not be imported: {type(error).__name__}: {error}") from None
    return module


def check_file(name: str, path) -> list[Result]:
    """Run every check of exercise ``name`` on the file at ``path``; one Result per check."""
    from minicnn.exercises import catalogue

    get(name)
    try:
        module = load(path, name)
    except CheckFailed as error:
        return [Result("import", False, str(error))]
    results = []
    for description, check in getattr(catalogue, f"checks_{name}")(module):
        try:
            results.append(Result(description, True, check() or "ok"))
        except CheckFailed as error:
            results.append(Result(description, False, str(error)))
    return results


def passed(results: list[Result]) -> bool:
    return bool(results) and all(result.passed for result in results)
