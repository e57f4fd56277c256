"""The exercises' checker: every worked solution passes, every untouched stub fails, a wrong answer is named - and
a file that gets its answers from minicnn or a framework never passes, however it reaches them.

The checker compares a learner's file with minicnn.plain, finite differences and the chapters' identities; these
tests hold it to its promise in both directions, check that each known mistake gets a message naming it, that
hints stay behind --hint, and try, one by one, the ways a student could reach minicnn's own implementations.
"""
from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from minicnn import exercises, plain
from minicnn.exercises import checks, guard

NAMES = [exercise.name for exercise in exercises.EXERCISES]
PYTHON_NAMES = [exercise.name for exercise in exercises.EXERCISES if exercise.suffix == ".py"]
ROOT = Path(__file__).resolve().parents[2]


def test_the_issue_s_exercises_are_all_there():
    assert {"bn_forward", "bn_backward_nodes", "bn_backward_compact", "bn_running", "conv_im2col", "maxpool_ties",
            "softmax_ce", "sgd_momentum", "bug_hunt", "linear_relu_dropout", "whole_network", "cuda_kernels"} <= set(NAMES)
    for name in NAMES:
        assert exercises.stub_path(name).is_file() and exercises.solution_path(name).is_file()


@pytest.mark.parametrize("name", NAMES)
def test_solution_passes(name):
    results = exercises.check_file(name, exercises.solution_path(name))
    assert len(results) >= 2
    assert exercises.passed(results), "\n".join(f"{r.check}: {r.message}" for r in results if not r.passed)


@pytest.mark.parametrize("name", NAMES)
def test_untouched_stub_fails(name):
    results = exercises.check_file(name, exercises.stub_path(name))
    assert not exercises.passed(results)
    if name in ("bug_hunt", "whole_network", "cuda_kernels"):  # a complete layer with one wrong line; a given
        return                                                 # forward; kernels that compile but write nothing
    assert all(not r.passed for r in results if "refuses" not in r.check)
    assert any("is not written yet" in r.message for r in results)


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "minicnn.exercises", *args], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


# formula-like text that a check must never print unasked: an equation, a sum, a square root, a transpose
FORMULA = re.compile(r"=\s*\(|sum\(|sqrt|inv_std\s*/|\bM\s*dy\b|transpose|\bx_hat\s*\*")


@pytest.mark.parametrize("name", [n for n in NAMES if n != "cuda_kernels"])
def test_an_untouched_stub_prints_no_formula_and_no_hint(name, tmp_path):
    mine = tmp_path / f"{name}.py"
    mine.write_text(exercises.stub_path(name).read_text())
    shown = run_cli("check", name, "--file", str(mine))
    assert shown.returncode == 1
    messages = "\n".join(line for line in shown.stdout.splitlines() if line.startswith("     "))  # not the titles
    assert "hint:" not in shown.stdout and not FORMULA.search(messages), shown.stdout
    stub_texts = re.findall(r'NotImplementedError\("([^"]+)"\)', exercises.stub_path(name).read_text())
    assert not any(text in shown.stdout for text in stub_texts)  # the stub's own text is a hint
    if "available: add --hint" in shown.stdout:
        with_hints = run_cli("check", name, "--file", str(mine), "--hint")
        assert "hint:" in with_hints.stdout
        assert not stub_texts or any(text in with_hints.stdout for text in stub_texts)


def test_the_bug_hunt_is_not_given_away_but_hinted_on_request(tmp_path):
    mine = tmp_path / "bug_hunt.py"
    mine.write_text(exercises.stub_path("bug_hunt").read_text())
    [failed] = [r for r in exercises.check_file("bug_hunt", mine) if not r.passed]
    assert failed.message.startswith("dw is wrong") and "dx is wrong" not in failed.message
    assert "transpose" not in failed.message and "transpose of the right answer" in failed.hint
    shown = run_cli("check", "bug_hunt", "--file", str(mine))
    assert "transpose" not in shown.stdout and "(1 hint available: add --hint)" in shown.stdout
    assert "It equals the transpose of the right answer." in run_cli("check", "bug_hunt", "--file", str(mine),
                                                                     "--hint").stdout


def broken_copy(tmp_path, name, old, new, *more):
    """The worked solution with ``old`` replaced by ``new`` (and each further pair in ``more``): the failed
    results."""
    source = exercises.solution_path(name).read_text()
    for old, new in [(old, new)] + [tuple(pair) for pair in more]:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    path = tmp_path / f"{name}{exercises.get(name).suffix}"
    path.write_text(source)
    return [r for r in exercises.check_file(name, path) if not r.passed]


# --- one test per mistake class: a broken solution -> the message that names the mistake --------------------------
def test_a_wrong_dgamma_is_named_with_its_factor_as_a_hint(tmp_path):
    failed = broken_copy(tmp_path, "bn_backward_compact", "return dx, dgamma, dbeta", "return dx, 2 * dgamma, dbeta")
    assert len(failed) == 4  # three shapes against the plain tier, and the finite differences
    for result in failed[:3]:
        assert "dgamma is wrong" in result.message and "dx is wrong" not in result.message
        assert "times the right answer" not in result.message
        assert "exactly 2 times the right answer" in result.hint


def test_the_missing_mean_path_is_recognised(tmp_path):
    failed = broken_copy(tmp_path, "bn_backward_nodes", "dx = dx_hat * s + dvar * 2.0 * centred / M + dmu / M",
                         "dx = dx_hat * s + dvar * 2.0 * centred / M")
    assert [r.check.split(":")[0] for r in failed] == ["dx"]
    assert re.search(r"dx is wrong in \d+ of 18 places: largest difference", failed[0].message)
    assert "what you get when the path through mu is missing" in failed[0].message
    assert "one constant per channel" in failed[0].hint  # dmu / M: the same for every value of a channel


def test_the_unbiased_variance_in_the_forward_is_recognised(tmp_path):
    failed = broken_copy(tmp_path, "bn_forward", "var = ((x - mu.reshape(shape)) ** 2).mean(axis=axes)",
                         "var = x.var(axis=axes, ddof=1)")
    assert failed and all("the variance divides by M - 1 instead of M" in r.message
                          for r in failed if "loops" not in r.check)


def test_eps_left_out_of_the_forward_is_recognised(tmp_path):
    failed = broken_copy(tmp_path, "bn_forward", "inv_std = 1.0 / np.sqrt(var + eps)", "inv_std = 1.0 / np.sqrt(var)")
    vectorised = [r for r in failed if r.check.startswith("batchnorm_forward,")]
    assert len(vectorised) == 2 and all("what you get when eps is left out" in r.message for r in vectorised)


def test_compact_backward_without_the_variance_term_is_named(tmp_path):
    failed = broken_copy(tmp_path, "bn_backward_compact",
                         "(M * dy - dbeta.reshape(shape) - x_hat * dgamma.reshape(shape))",
                         "(M * dy - dbeta.reshape(shape))")
    assert len(failed) == 4  # three shapes and the finite differences
    assert all("the term x_hat * sum(dy * x_hat) is left out" in r.message for r in failed[:3])


def test_compact_backward_without_gamma_is_named(tmp_path):
    failed = broken_copy(tmp_path, "bn_backward_compact", "dx = (gamma * inv_std / M).reshape(shape)",
                         "dx = (inv_std / M).reshape(shape)")
    assert all("what you get when gamma is left out" in r.message for r in failed[:3])


def test_evaluation_mode_without_eps_is_named(tmp_path):
    failed = broken_copy(tmp_path, "bn_running",
                         "    inv_std = 1.0 / np.sqrt(running_var + eps)\n    return gamma.reshape(shape) * (x",
                         "    inv_std = 1.0 / np.sqrt(running_var)\n    return gamma.reshape(shape) * (x")
    assert [r.check.split(",")[0] for r in failed] == ["batchnorm_eval_forward"] * 2
    assert all("what you get when eps is left out" in r.message for r in failed)


def test_the_biased_variance_in_the_running_update_is_recognised(tmp_path):
    failed = broken_copy(tmp_path, "bn_running", "var_unbiased = x.var(axis=axes) * M / (M - 1)",
                         "var_unbiased = x.var(axis=axes)")
    assert [r.check.split(",")[0] for r in failed] == ["update_running_statistics"] * 2
    assert all(r.message.startswith("running_var is wrong") and "biased variance (divided by M)" in r.message
               and "unbiased" in r.hint for r in failed)


def test_the_training_gradient_in_evaluation_mode_is_named(tmp_path):
    failed = broken_copy(tmp_path, "bn_running", "return gamma.reshape(shape) * inv_std * dy,",
                         "return gamma.reshape(shape) * inv_std * (dy - dy.mean(axis=axes, keepdims=True) - x_hat * "
                         "(dy * x_hat).mean(axis=axes, keepdims=True)),")
    assert failed and all(r.check.startswith("batchnorm_eval_backward") for r in failed)


def test_maxpool_tie_to_every_maximum_is_named_not_a_factor(tmp_path):
    failed = broken_copy(tmp_path, "maxpool_ties", ("            won = argmax == p * K + q\n"),
                         "            won = windows[..., p * K + q] == windows.max(axis=-1)\n",
                         ("return y, (x.shape, argmax, K, S)", "return y, (x.shape, argmax, K, S, windows)"),
                         ("x_shape, argmax, K, S = cache", "x_shape, argmax, K, S, windows = cache"))
    assert len(failed) == 3
    for result in failed:
        assert result.message.startswith("dx is wrong")
        assert "a tie sends the gradient to every maximum of the window" in result.message
        assert "times the right answer" not in result.message + result.hint  # never the scalar-factor story


def test_maxpool_last_maximum_winning_ties_is_named(tmp_path):
    failed = broken_copy(tmp_path, "maxpool_ties", "argmax = windows.argmax(axis=-1)",
                         "argmax = K * K - 1 - windows[..., ::-1].argmax(axis=-1)")
    assert len(failed) == 3 and all("to the last maximum of the window" in r.message for r in failed)


def test_maxpool_assigning_where_windows_overlap_is_named(tmp_path):
    failed = broken_copy(tmp_path, "maxpool_ties", "+= np.where(won, dy, 0.0)", "= np.where(won, dy, dx[:, :, p:p + S * H_out:S, q:q + S * W_out:S])")
    overlapping = [r for r in failed if "3 x 3 stride 2" in r.check or "2 x 2 stride 1" in r.check]
    assert len(failed) == len(overlapping) == 2  # K = S: no overlap, nothing to add up
    assert all("replaced the one before (=) instead of being added to it (+=)" in r.message for r in failed)


def test_maxpool_plain_assignment_where_windows_overlap_is_named(tmp_path):
    # the literal edit a learner makes: = for +=, so a later window also writes its 0 over an earlier winner
    failed = broken_copy(tmp_path, "maxpool_ties", "+= np.where(won, dy, 0.0)", "= np.where(won, dy, 0.0)")
    assert len(failed) == 2 and all("3 x 3 stride 2" in r.check or "2 x 2 stride 1" in r.check for r in failed)
    assert all("replaced the one before (=) instead of being added to it (+=)" in r.message for r in failed)


def test_col2im_assigning_where_windows_overlap_is_named(tmp_path):
    failed = broken_copy(tmp_path, "conv_im2col", "q:q + stride * W_out:stride] += d[",
                         "q:q + stride * W_out:stride] = d[")
    col2im = [r for r in failed if r.check.startswith("col2im")]
    assert len(col2im) == 1 and "replaced the one before (=) instead of being added to it (+=)" in col2im[0].message
    assert "times the right answer" not in col2im[0].message + col2im[0].hint


def test_conv_padding_off_by_one_is_named(tmp_path):
    failed = broken_copy(tmp_path, "conv_im2col", "((0, 0), (0, 0), (padding, padding), (padding, padding))",
                         "((0, 0), (0, 0), (padding + 1, padding + 1), (padding + 1, padding + 1))")
    padded = [r for r in failed if "conv2d_forward and" in r.check]
    assert len(padded) == 3
    assert all(r.message.startswith("y is the output of an input padded with P + 1 rows and columns on each side")
               for r in padded)
    assert "(shape (2, 4, 5, 5), expected (2, 4, 4, 4))" in padded[0].message  # stride 3 on 13 x 13: the same shape
    assert "shape" not in padded[2].message                                   # either way, but shifted values


def test_conv_crop_off_by_one_is_named(tmp_path):
    failed = broken_copy(tmp_path, "conv_im2col",
                         "dx = dx_pad[:, :, padding:x_pad_shape[2] - padding, padding:x_pad_shape[3] - padding]",
                         "dx = dx_pad[:, :, padding - 1:x_pad_shape[2] - padding - 1, padding:x_pad_shape[3] - padding]")
    cropped = [r for r in failed if "conv2d_forward and" in r.check and "padding 0" not in r.check]
    assert len(cropped) == 2 and all("the crop of the padding is off" in r.message for r in cropped)
    assert "cut out from row 0, column 1" in cropped[0].message  # padding 1: rows from 0 instead of 1


def test_relu_derivative_at_zero_and_dropout_keep_probability_are_named(tmp_path):
    failed = broken_copy(tmp_path, "linear_relu_dropout", "np.where(y > 0, dy, 0)", "np.where(y >= 0, dy, 0)",
                         ("return y, y", "return y, x"))  # the cache holds x, and x >= 0 lets 0 through
    assert [r.check.split(" ")[0] for r in failed] == ["relu_forward"]
    assert "the derivative at 0 is taken as 1" in failed[0].message
    failed = broken_copy(tmp_path, "linear_relu_dropout", "mask = ((u >= p_drop) / (1 - p_drop))",
                         "mask = ((u < p_drop) / p_drop)")
    assert len(failed) == 2 and all("p_drop is used as the probability of keeping a unit" in r.message
                                    for r in failed)


def test_the_scalar_factor_story_never_fires_on_single_numbers():
    assert checks.scalar_factor(np.array(2.45), np.array(1.0)) is None
    assert checks.scalar_factor(np.array([0.0, 2.45]), np.array([0.0, 1.0])) is None  # one nonzero: one number
    assert checks.scalar_factor(np.array([2.0, 4.0]), np.array([1.0, 2.0])) == pytest.approx(2.0)
    with pytest.raises(checks.CheckFailed) as failure:
        checks.compare("the sum of dx", 2.45, 1.0)
    assert "times" not in str(failure.value) + failure.value.hint


def test_the_planted_bug_is_named():
    failed = [r for r in exercises.check_file("bug_hunt", exercises.stub_path("bug_hunt")) if not r.passed]
    assert len(failed) == 1 and failed[0].message.startswith("dw is wrong") and "dx is wrong" not in failed[0].message


def test_a_shape_error_is_named(tmp_path):
    failed = broken_copy(tmp_path, "softmax_ce", "return loss, dlogits / N", "return loss, (dlogits / N).T")
    assert any(r.message.startswith("dlogits has shape (5, 8), expected (8, 5)") for r in failed)


def test_compare_reports_shape_index_and_factor():
    with pytest.raises(checks.CheckFailed, match=r"dx has shape \(3, 2\), expected \(2, 3\) \(the same number"):
        checks.compare("dx", np.zeros((3, 2)), np.zeros((2, 3)))
    expected = np.arange(1.0, 7.0).reshape(2, 3)
    with pytest.raises(checks.CheckFailed, match=r"largest difference 30 at index \(1, 2\) \(got 36, expected 6;") as e:
        checks.compare("dw", expected * 6, expected)
    assert "exactly 6 times the right answer" in e.value.hint
    with pytest.raises(checks.CheckFailed) as e:
        checks.compare("db", -expected, expected)
    assert "negative of the right answer" in e.value.hint
    assert checks.compare("db", expected + 1e-12, expected).startswith("db (2, 3): largest difference")


# --- the whole network, one intermediate at a time ---------------------------------------------------------------
def test_whole_network_names_the_first_wrong_intermediate(tmp_path):
    failed = broken_copy(tmp_path, "whole_network", 'g["dvar"] = g["dinv_std"] * -0.5 * (t["var"] + EPS) ** -1.5',
                         'g["dvar"] = g["dinv_std"] * -0.5 * (t["var"] + EPS) ** -0.5')
    # dmu stays right: the path through var adds dvar * 2 (x - mu) / M, whose sum over a channel is 0
    assert [r.check.split(":")[0] for r in failed] == ["dvar", "dcentred", "dconv", "dconv_w"]
    assert "This is the first wrong intermediate: everything before it is right" in failed[0].message
    assert re.search(r"dvar is wrong in 3 of 3 places: largest difference [\d.e-]+ at index", failed[0].message)
    assert all("(dvar before it is wrong too: fix that first)" in r.message for r in failed[1:])


def test_whole_network_oracle_against_finite_differences():
    """The checker's gradients of batch norm's inner nodes (written with the chain rule) against centred finite
    differences of the loss as a function of each node, the rest of the graph held as the forward computes it."""
    from minicnn.exercises import catalogue
    from minicnn.gradcheck import numerical_gradient

    x, labels, params = catalogue.network_inputs()
    truth = catalogue.network_truth(x, labels, params)["grads"]
    conv = plain.conv2d_forward(x, params["conv_w"], None, 1, 0)[0]
    mu, eps, shape = conv.mean(axis=(0, 2, 3)), 1e-5, (1, 3, 1, 1)

    def tail(x_hat):  # the loss from x_hat on
        bn = params["gamma"].reshape(shape) * x_hat + params["beta"].reshape(shape)
        pooled = plain.maxpool2d_forward(np.maximum(bn, 0), 2, 2, 0)[0]
        logits = pooled.reshape(len(x), -1) @ params["fc_w"].T + params["fc_b"]
        return plain.softmax_cross_entropy(logits, labels)[0]

    centred = conv - mu.reshape(shape)
    var = (centred ** 2).mean(axis=(0, 2, 3))
    inv_std = 1 / np.sqrt(var + eps)
    nodes = {"x_hat": (centred * inv_std.reshape(shape), lambda v: tail(v)),
             "inv_std": (inv_std.copy(), lambda v: tail(centred * v.reshape(shape))),
             "var": (var.copy(), lambda v: tail(centred / np.sqrt(v + eps).reshape(shape))),
             "centred": (centred.copy(), lambda v: tail(v / np.sqrt((v ** 2).mean(axis=(0, 2, 3)) + eps).reshape(shape))),
             "mu": (mu.copy(), lambda v: tail((conv - v.reshape(shape)) / np.sqrt(
                 ((conv - v.reshape(shape)) ** 2).mean(axis=(0, 2, 3)) + eps).reshape(shape)))}
    for name, (value, loss) in nodes.items():
        numeric = numerical_gradient(lambda: loss(value), value)
        np.testing.assert_allclose(truth["d" + name], numeric, rtol=1e-5, atol=1e-8, err_msg=name)
    np.testing.assert_allclose(truth["dcentred"] + truth["dmu"].reshape(shape) / conv[:, 0].size, truth["dconv"],
                               atol=1e-14)


# --- the CUDA exercise ----------------------------------------------------------------------------------------------
def test_cuda_kernel_without_a_bounds_check_is_caught(tmp_path):
    failed = broken_copy(tmp_path, "cuda_kernels", "    if (index >= total) return;\n    dx[index]",
                         "    dx[index]")
    assert {r.check.split(",")[0] for r in failed} == {"relu_bwd"}
    assert all("wrote outside array 'dx'" in r.message for r in failed if "emulated" in r.check)


def test_cuda_kernel_with_a_wrong_channel_names_element_and_thread(tmp_path):
    failed = broken_copy(tmp_path, "cuda_kernels", "const int c = (index / S) % C;", "const int c = index % C;")
    emulated = [r for r in failed if "emulated" in r.check]
    assert len(failed) == len(emulated) == 2
    assert emulated[0].message.startswith("x_hat is wrong in ")
    assert re.search(r"the first is element (\d+) \(thread blockIdx.x = 0, threadIdx.x = \1; \(n, c, s\) = \(0, 0, "
                     r"\1\)", emulated[0].message)
    assert "its own thread wrote it, with the wrong value" in emulated[0].message


def test_cuda_kernel_writing_another_thread_s_element_is_named(tmp_path):
    failed = broken_copy(tmp_path, "cuda_kernels", "    dx[index] = y[index] > 0 ? dy[index] : (real_t)0;",
                         "    if (index + 1 < total) dx[index + 1] = y[index + 1] > 0 ? dy[index + 1] : (real_t)0;")
    emulated = [r for r in failed if "emulated" in r.check]
    assert len(emulated) == 2
    assert "the first is element 0 (thread blockIdx.x = 0, threadIdx.x = 0)" in emulated[0].message
    assert "no thread wrote it" in emulated[0].message


def test_cuda_kernel_that_does_not_compile_shows_nvrtc_s_log(tmp_path):
    pytest.importorskip("cupy_backends.cuda.libs.nvrtc")
    failed = broken_copy(tmp_path, "cuda_kernels", "const real_t xh = (x[index] - mean[c]) * inv_std[c];",
                         "const real_t xh = (x[index] - mean[c]) * inv_std[c]")
    compiled = [r for r in failed if "NVRTC" in r.check]  # the whole file is compiled for each kernel
    assert len(compiled) == 4 and all("NVRTC could not compile" in r.message and 'expected a ";"' in r.message
                                      for r in compiled)


def test_cuda_file_with_an_include_is_refused(tmp_path):
    failed = broken_copy(tmp_path, "cuda_kernels", "// Exercise cuda_kernels, worked",
                         '#include "../../minicnn/kernels/batchnorm.py"\n// Exercise cuda_kernels, worked')
    assert len(failed) == 1 and failed[0].message.startswith("refused:") and "uses #include" in failed[0].message


# --- a checker that cannot be fooled: every way of reaching minicnn or a framework -----------------------------------
CHEATS = {
    "from-import of a worked solution": "from minicnn.exercises.solutions.bn_backward_compact import *\n",
    "import of the plain tier": "import numpy as np\nimport minicnn.plain\n\n\n{forward}\n\n"
                                "def batchnorm_backward(dy, cache):\n"
                                "    return minicnn.plain.batchnorm_backward(dy, cache)\n",
    "from-import of the plain tier": "from minicnn import plain\n",
    "relative import": "from .solutions import bn_backward_compact\n",
    "importlib": "import importlib\nplain = importlib.import_module('minicnn.plain')\n",
    "__import__": "plain = __import__('minicnn.plain')\n",
    "eval": "plain = eval(\"__import__('minicnn.plain')\")\n",
    "getattr by string": "import numpy as np\nm = getattr(np, 'testing')\n",
    "a private attribute of numpy": "import numpy as np\nsys = np.testing._private.utils.sys\n",
    "a public path from numpy to sys": "import numpy.f2py\nmodules = numpy.f2py.auxfuncs.sys.modules\n",
    "the checker's frames": "import numpy as np\n\n\ndef f():\n    return np.testing.f_back\n",
    "torch": "import torch\n",
    "torch, from-import": "from torch.nn import functional\n",
    "a numpy function replaced": "import numpy as np\nnp.allclose = lambda *a, **k: True\n",
    "__builtins__": "b = __builtins__\n",
}


@pytest.mark.parametrize("route", list(CHEATS))
def test_a_file_that_reaches_for_other_code_is_refused(route, tmp_path):
    forward = exercises.solution_path("bn_backward_compact").read_text().split("def batchnorm_forward")[1]
    forward = "def batchnorm_forward" + forward.split("\n\n\ndef batchnorm_backward")[0]
    mine = tmp_path / "bn_backward_compact.py"
    mine.write_text(CHEATS[route].replace("{forward}", forward))
    results = exercises.check_file("bn_backward_compact", mine)
    assert not exercises.passed(results)
    assert len(results) == 1 and results[0].message.startswith("refused: ") and "\n" not in results[0].message
    shown = run_cli("check", "bn_backward_compact", "--file", str(mine))
    assert shown.returncode == 1 and "refused:" in shown.stdout and "all checks pass" not in shown.stdout


def test_the_only_way_out_of_numpy_is_a_forbidden_name():
    """Walk every public attribute from NumPy and the allowed modules, never through a forbidden name: no module
    reached lets a file run code outside NumPy and the standard library's harmless modules."""
    import dataclasses, functools, itertools, math, typing  # noqa: E401,F401
    import collections
    import numpy.testing  # noqa: F401

    dangerous = {"sys", "os", "builtins", "importlib", "inspect", "gc", "ctypes", "subprocess", "operator", "types",
                 "runpy", "pkgutil", "code", "threading", "multiprocessing", "pickle", "marshal", "pathlib", "io",
                 "shutil", "tempfile"}
    todo = [np, math, functools, itertools, collections, dataclasses, typing]
    seen, reached = set(), set()
    while todo:
        module = todo.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        for name in dir(module):
            if name.startswith("_") or name in guard.FORBIDDEN_ATTRIBUTES:
                continue
            try:
                value = getattr(module, name)
            except Exception:
                continue
            if isinstance(value, types.ModuleType):
                reached.add(value.__name__)
                todo.append(value)
    roots = {name.split(".")[0] for name in reached}
    assert not roots & dangerous, sorted(roots & dangerous)
    assert not roots & guard.FORBIDDEN_ROOTS


def test_a_function_reached_at_run_time_is_seen_however_it_was_reached(tmp_path):
    """The second line of defence: whatever got past the syntax check, calling minicnn's code (a Python frame in
    minicnn/) or a framework's C function while the learner's code runs is recorded."""
    torch = pytest.importorskip("torch")
    watch = guard.Watch(tmp_path / "mine.py")
    x = np.random.default_rng(0).standard_normal((4, 3))
    watch.run(plain.batchnorm_forward, x, np.ones(3), np.zeros(3))
    assert watch.violations and watch.violations[0].startswith("runs batchnorm_forward in minicnn/plain/batchnorm.py")
    watch = guard.Watch(tmp_path / "mine.py")
    watch.run(torch.relu, torch.ones(3))
    assert watch.violations == ["calls torch.relu"]
    watch = guard.Watch(__file__)  # this file plays the learner's
    watch.run(lambda: np.maximum(x, 0).sum())  # NumPy and the learner's own code: nothing to record
    assert watch.violations == []


def test_other_libraries_gc_callbacks_are_not_taken_for_the_learner_s(tmp_path):
    """An automatic collection during the learner's call would run other libraries' gc callbacks (hypothesis and
    dask register some) inside it, where the hook would see a foreign file; the watch pauses the collector for the
    call (and only for it), so a file that makes cyclic garbage is judged on its own code."""
    import gc
    import importlib.util

    (tmp_path / "foreign.py").write_text("seen = []\n\n\ndef callback(phase, info):\n    seen.append(phase)\n")
    spec = importlib.util.spec_from_file_location("foreign", tmp_path / "foreign.py")
    foreign = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(foreign)
    mine = tmp_path / "mine.py"
    mine.write_text("def garbage(n):\n    for _ in range(n):\n        a = []\n        a.append(a)\n    return n\n")
    module = guard.LearnerModule(mine, "mine")
    assert guard.Watch(mine).run(gc.isenabled) is False and gc.isenabled()
    gc.callbacks.append(foreign.callback)
    try:
        assert module.garbage(20000) == 20000  # enough cycles for many collections, were the collector on
        assert foreign.seen == []
    finally:
        gc.callbacks.remove(foreign.callback)


def test_a_function_handed_in_is_refused_when_called(tmp_path):
    """A watched learner function that calls a minicnn function it was given (the syntax check cannot see that)."""
    mine = tmp_path / "mine.py"
    mine.write_text("def apply(function, x):\n    return function(x)\n")
    module = guard.LearnerModule(mine, "mine")
    with pytest.raises(guard.Refused, match=r"apply runs relu_forward in minicnn/plain/activations.py"):
        module.apply(plain.relu_forward, np.ones(3))


def test_changing_numpy_by_a_loophole_is_refused_and_undone(tmp_path):
    """``self`` may be assigned to; a default argument called self is a loophole the syntax check cannot close -
    the snapshot of NumPy catches it, and puts NumPy back."""
    original = np.allclose
    mine = tmp_path / "bn_backward_compact.py"
    mine.write_text("import numpy as np\n\n\ndef fool(self=np):\n    self.allclose = lambda *a, **k: True\n\n\nfool()\n"
                    + exercises.stub_path("bn_backward_compact").read_text())
    results = exercises.check_file("bn_backward_compact", mine)
    assert np.allclose is original
    assert len(results) == 1 and "changed numpy.allclose" in results[0].message


def test_changing_the_inputs_in_place_cannot_fool_the_comparison(tmp_path):
    """A forward that zeroes gamma and beta in place and returns zeros: the checker's own gamma and beta are not the
    ones it was given, so the zeros are compared with the right answer."""
    mine = tmp_path / "bn_forward.py"
    mine.write_text("import numpy as np\n\n\ndef batchnorm_forward(x, gamma, beta, eps=1e-5):\n"
                    "    gamma[...] = 0\n    beta[...] = 0\n    return np.zeros_like(x), None\n\n\n"
                    "def batchnorm_forward_loops(x, gamma, beta, eps=1e-5):\n    return batchnorm_forward(x, gamma, beta)[0]\n")
    results = exercises.check_file("bn_forward", mine)
    assert all(not r.passed for r in results[:4]) and all(r.message.startswith("y") for r in results[:4])


# --- the command line ----------------------------------------------------------------------------------------------
def test_command_line_start_check_and_exit_status(tmp_path):
    listing = run_cli("list")
    assert listing.returncode == 0 and all(name in listing.stdout for name in NAMES)
    assert "cuda_kernels" in listing.stdout and "(CUDA C)" in listing.stdout and "docs/capstone.py" in listing.stdout
    started = run_cli("start", "softmax_ce", str(tmp_path / "work"))
    assert started.returncode == 0, started.stderr
    mine = tmp_path / "work" / "softmax_ce.py"
    assert mine.read_text() == exercises.stub_path("softmax_ce").read_text()
    assert run_cli("start", "softmax_ce", str(tmp_path / "work")).returncode == 2  # never overwrites
    failing = run_cli("check", "softmax_ce", "--file", str(mine))
    assert failing.returncode == 1 and "FAIL" in failing.stdout and "not written yet" in failing.stdout
    assert "the first: softmax_cross_entropy on 8 x 5 logits" in failing.stdout
    mine.write_text(exercises.solution_path("softmax_ce").read_text())
    passing = run_cli("check", "softmax_ce", "--file", str(mine))
    assert passing.returncode == 0 and "all checks pass" in passing.stdout, passing.stdout
    shown = run_cli("check", "softmax_ce", "--show-solution")
    assert shown.returncode == 0 and "def softmax_cross_entropy" in shown.stdout
    unknown = run_cli("check", "no_such_exercise")
    assert unknown.returncode == 2 and "bn_forward" in unknown.stderr
    cuda = run_cli("start", "cuda_kernels", str(tmp_path / "work"))
    assert cuda.returncode == 0 and (tmp_path / "work" / "cuda_kernels.cu").is_file()


def test_step_through_prints_every_intermediate_and_agrees_with_plain(capsys):
    from minicnn.exercises import step_through

    assert step_through.main([]) == 0  # each part asserts its numbers against minicnn.plain (and the emulated kernels)
    text = capsys.readouterr().out
    for name in ("gamma", "beta", "eps", "mu", "var", "inv_std", "x_hat", "dvar", "dmu", "path 1: direct",
                 "path 2: mean", "path 3: var", "dx (compact)", "cols", "dcols", "col2im(dcols)", "bn_fwd, thread 7",
                 "bn_bwd, thread 7"):
        assert name in text, name
    assert re.search(r"gamma\s+= \[ 1\.5 -0\.5\]", text) and re.search(r"beta\s+= \[0\.1 0\.2\]", text)
    assert re.search(r"eps\s+= 1e-05", text)
    assert "c = (index / S) % C = (7 / 4) % 3 = 1" in text
    assert step_through.main(["nonsense"]) == 2


def test_an_exception_is_reported_at_the_learner_s_line(tmp_path):
    mine = tmp_path / "softmax_ce.py"
    mine.write_text("import numpy as np\n\n\ndef softmax_cross_entropy(logits, labels):\n"
                    "    return np.pad(logits, 'bad'), None\n")
    failed = [r for r in exercises.check_file("softmax_ce", mine) if not r.passed]
    assert failed and f"at {mine}:5 (return np.pad(logits, 'bad'), None)" in failed[0].message
    assert failed[0].message.startswith("softmax_cross_entropy raised TypeError")
