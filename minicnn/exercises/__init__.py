"""Exercises with a checker: fill in a forward or backward pass, and let the checker say what is wrong.

    python -m minicnn.exercises list                      # the exercises, in the order of the chapters
    python -m minicnn.exercises start bn_forward mywork   # copies the stub to mywork/bn_forward.py
    python -m minicnn.exercises check bn_forward --file mywork/bn_forward.py
    python -m minicnn.exercises check bn_forward --file mywork/bn_forward.py --hint   # ... and hints
    python -m minicnn.exercises check bn_forward --show-solution
    python docs/capstone.py mywork                        # all your files as the tier that trains AlexNet-BN

Each exercise is a file of functions whose bodies raise ``NotImplementedError`` (the *stub*, in
``minicnn/exercises/stubs/``; one exercise is CUDA C, ``.cu``). The checker loads your copy, calls your functions
on random inputs of awkward shapes in float64 and compares the results with minicnn's plain tier
(``minicnn.plain``), with centred finite differences and with the identities of the chapter. It judges only what
your file computes: a file that imports or calls minicnn's own implementations or another framework is refused
(``minicnn/exercises/guard.py`` says how). A failed check names the function and the array (``dgamma``, ``dx``),
its shape, the largest difference and where it is, and the mistake when the result is that of a known one (the
unbiased variance, eps left out, a tie's gradient sent to every maximum). Hints - formulas, the form of the error
("the transpose of the right answer") - are printed only with ``--hint``. ``check`` exits with status 0 only
when every check passes.

The worked answers are in ``minicnn/exercises/solutions/`` - look only after trying (``--show-solution``).
The checks themselves are in ``minicnn/exercises/catalogue.py`` (and ``cuda.py`` for the kernel exercise).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from minicnn.exercises.checks import CheckFailed, Result
from minicnn.exercises.guard import LearnerModule, Refused

HERE = Path(__file__).resolve().parent
STUBS = HERE / "stubs"
SOLUTIONS = HERE / "solutions"


@dataclass(frozen=True)
class Exercise:
    name: str
    title: str
    chapter: str  # where the maths is explained
    suffix: str = ".py"  # the stub's file type: Python, or CUDA C (".cu")


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
    Exercise("linear_relu_dropout", "the rest of AlexNet's layers: linear, ReLU and inverted dropout, forward and "
             "backward", "docs/convolution.md sections 3.6-3.7, docs/backprop.md section 1.3"),
    Exercise("bug_hunt", "find the planted bug in a layer's backward pass with a gradient check",
             "docs/backprop.md section 1.4"),
    Exercise("whole_network", "backprop ninja: a whole network (conv, BN, ReLU, max pool, linear, softmax "
             "cross-entropy) by hand, one intermediate at a time", "docs/backprop.md, docs/batchnorm.md 2.3, "
             "docs/convolution.md"),
    Exercise("cuda_kernels", "two CUDA kernels in CUDA C: ReLU backward and batch norm's forward, one thread per "
             "element, run on the CPU", "docs/gpu.md, docs/step_through.md", suffix=".cu"),
]
BY_NAME = {exercise.name: exercise for exercise in EXERCISES}


def get(name: str) -> Exercise:
    if name not in BY_NAME:
        raise KeyError(f"no exercise named {name!r}; the exercises are: {', '.join(BY_NAME)}")
    return BY_NAME[name]


def stub_path(name: str) -> Path:
    exercise = get(name)
    return STUBS / f"{exercise.name}{exercise.suffix}"


def solution_path(name: str) -> Path:
    exercise = get(name)
    return SOLUTIONS / f"{exercise.name}{exercise.suffix}"


def load(path, module_name: str) -> LearnerModule:
    """Import the Python file at ``path`` as a fresh, watched module (``minicnn.exercises.guard``): Refused when
    it reaches for code outside itself, CheckFailed when it does not import."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (start an exercise with "
                                f"`python -m minicnn.exercises start NAME DIR`)")
    try:
        return LearnerModule(path, f"minicnn_exercise_{module_name}")
    except ImportError as error:  # a failing import in the learner's file
        raise CheckFailed(str(error)) from None


def refused_results(error: Refused) -> list[Result]:
    return [Result("what the file uses", False, f"refused: {error}")]


def check_file(name: str, path) -> list[Result]:
    """Run every check of exercise ``name`` on the file at ``path``; one Result per check. A file that reaches
    for minicnn's implementations or a framework gets one failed Result that says where, whatever else it does."""
    exercise = get(name)
    if exercise.suffix == ".cu":
        from minicnn.exercises import cuda

        return cuda.check_file(path)
    from minicnn.exercises import catalogue

    try:
        module = load(path, name)
    except Refused as error:
        return refused_results(error)
    except CheckFailed as error:
        return [Result("import", False, str(error))]
    results = []
    for description, check in getattr(catalogue, f"checks_{name}")(module):
        try:
            results.append(Result(description, True, check() or "ok"))
        except Refused as error:
            return refused_results(error)
        except CheckFailed as error:
            results.append(Result(description, False, str(error), error.hint))
    tampered = module.tampered()
    return refused_results(tampered) if tampered else results


def passed(results: list[Result]) -> bool:
    return bool(results) and all(result.passed for result in results)
