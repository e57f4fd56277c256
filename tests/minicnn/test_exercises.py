"""The exercises' checker: every worked solution passes, every untouched stub fails, and a wrong answer is named.

The checker compares a learner's file with minicnn.plain, finite differences and the chapters' identities; these
tests hold it to its promise in both directions and check that its messages point at the wrong array.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minicnn import exercises
from minicnn.exercises import checks

NAMES = [exercise.name for exercise in exercises.EXERCISES]
ROOT = Path(__file__).resolve().parents[2]


def test_the_issue_s_exercises_are_all_there():
    assert {"bn_forward", "bn_backward_nodes", "bn_backward_compact", "bn_running", "conv_im2col", "maxpool_ties",
            "softmax_ce", "sgd_momentum", "bug_hunt"} <= set(NAMES)
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
    if name != "bug_hunt":  # the bug hunt's stub is a complete layer with one wrong line
        assert all(not r.passed for r in results if "refuses" not in r.check)
        assert any("is not written yet" in r.message for r in results)


def broken_copy(tmp_path, name, old, new):
    source = exercises.solution_path(name).read_text()
    assert source.count(old) == 1, old
    path = tmp_path / f"{name}.py"
    path.write_text(source.replace(old, new))
    return [r for r in exercises.check_file(name, path) if not r.passed]


def test_a_wrong_dgamma_is_named_with_its_error(tmp_path):
    failed = broken_copy(tmp_path, "bn_backward_compact", "return dx, dgamma, dbeta", "return dx, 2 * dgamma, dbeta")
    assert failed
    for result in failed:
        assert "dgamma is wrong" in result.message and "exactly 2 times the right answer" in result.message
        assert "dx is wrong" not in result.message


def test_the_missing_mean_path_is_recognised(tmp_path):
    failed = broken_copy(tmp_path, "bn_backward_nodes", "dx = dx_hat * s + dvar * 2.0 * centred / M + dmu / M",
                         "dx = dx_hat * s + dvar * 2.0 * centred / M")
    assert [r.check.split(":")[0] for r in failed] == ["dx"]
    assert re.search(r"dx is wrong in \d+ of 18 places: largest difference", failed[0].message)
    assert "one constant per channel" in failed[0].message  # dmu / M: the same for every value of a channel


def test_the_unbiased_variance_in_the_forward_is_recognised(tmp_path):
    failed = broken_copy(tmp_path, "bn_forward", "var = ((x - mu.reshape(shape)) ** 2).mean(axis=axes)",
                         "var = x.var(axis=axes, ddof=1)")
    assert failed and all("divides by M - 1" in r.message for r in failed if "loops" not in r.check)


def test_the_planted_bug_is_named(tmp_path):
    failed = [r for r in exercises.check_file("bug_hunt", exercises.stub_path("bug_hunt")) if not r.passed]
    assert len(failed) == 1 and failed[0].message.startswith("dw is wrong")
    assert "transpose of the right answer" in failed[0].message and "dx is wrong" not in failed[0].message


def test_a_shape_error_is_named(tmp_path):
    failed = broken_copy(tmp_path, "softmax_ce", "return loss, dlogits / N", "return loss, (dlogits / N).T")
    assert any(r.message.startswith("dlogits has shape (5, 8), expected (8, 5)") for r in failed)


def test_maxpool_last_maximum_winning_ties_is_caught(tmp_path):
    failed = broken_copy(tmp_path, "maxpool_ties", "argmax = windows.argmax(axis=-1)",
                         "argmax = K * K - 1 - windows[..., ::-1].argmax(axis=-1)")
    assert len(failed) == 3  # y is still right; dx sends each tie's gradient to the wrong input
    assert all(r.message.startswith("dx is wrong") and "the first maximum of the window" in r.message for r in failed)


def test_compare_reports_shape_index_and_factor():
    with pytest.raises(checks.CheckFailed, match=r"dx has shape \(3, 2\), expected \(2, 3\) \(the same number"):
        checks.compare("dx", np.zeros((3, 2)), np.zeros((2, 3)))
    expected = np.arange(1.0, 7.0).reshape(2, 3)
    with pytest.raises(checks.CheckFailed, match=r"largest difference 30 at index \(1, 2\) \(got 36, expected 6;.*"
                                                  r"exactly 6 times the right answer"):
        checks.compare("dw", expected * 6, expected)
    with pytest.raises(checks.CheckFailed, match="negative of the right answer"):
        checks.compare("db", -expected, expected)
    assert checks.compare("db", expected + 1e-12, expected).startswith("db (2, 3): largest difference")


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "minicnn.exercises", *args], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_command_line_start_check_and_exit_status(tmp_path):
    listing = run_cli("list")
    assert listing.returncode == 0 and all(name in listing.stdout for name in NAMES)
    started = run_cli("start", "softmax_ce", str(tmp_path / "work"))
    assert started.returncode == 0, started.stderr
    mine = tmp_path / "work" / "softmax_ce.py"
    assert mine.read_text() == exercises.stub_path("softmax_ce").read_text()
    assert run_cli("start", "softmax_ce", str(tmp_path / "work")).returncode == 2  # never overwrites
    failing = run_cli("check", "softmax_ce", "--file", str(mine))
    assert failing.returncode == 1 and "FAIL" in failing.stdout and "not written yet" in failing.stdout
    mine.write_text(exercises.solution_path("softmax_ce").read_text())
    passing = run_cli("check", "softmax_ce", "--file", str(mine))
    assert passing.returncode == 0 and "all checks pass" in passing.stdout, passing.stdout
    shown = run_cli("check", "softmax_ce", "--show-solution")
    assert shown.returncode == 0 and "def softmax_cross_entropy" in shown.stdout
    unknown = run_cli("check", "no_such_exercise")
    assert unknown.returncode == 2 and "bn_forward" in unknown.stderr


def test_step_through_prints_every_intermediate_and_agrees_with_plain(capsys):
    from minicnn.exercises import step_through

    assert step_through.main([]) == 0  # each part asserts its numbers against minicnn.plain (and the emulated kernels)
    text = capsys.readouterr().out
    for name in ("mu", "var", "inv_std", "x_hat", "dvar", "dmu", "path 1: direct", "path 2: mean", "path 3: var",
                 "dx (compact)", "cols", "dcols", "col2im(dcols)", "bn_fwd, thread 7", "bn_bwd, thread 7"):
        assert name in text, name
    assert "c = (index / S) % C = (7 / 4) % 3 = 1" in text
    assert step_through.main(["nonsense"]) == 2


def test_an_exception_is_reported_at_the_learner_s_line(tmp_path):
    mine = tmp_path / "softmax_ce.py"
    mine.write_text("import numpy as np\n\n\ndef softmax_cross_entropy(logits, labels):\n"
                    "    return np.pad(logits, 'bad'), None\n")
    failed = [r for r in exercises.check_file("softmax_ce", mine) if not r.passed]
    assert failed and f"at {mine}:5 (return np.pad(logits, 'bad'), None)" in failed[0].message
    assert failed[0].message.startswith("softmax_cross_entropy raised TypeError")


def test_the_biased_variance_in_the_running_update_is_recognised(tmp_path):
    failed = broken_copy(tmp_path, "bn_running", "var_unbiased = x.var(axis=axes) * M / (M - 1)",
                         "var_unbiased = x.var(axis=axes)")
    assert [r.check.split(",")[0] for r in failed] == ["update_running_statistics"] * 2
    assert all(r.message.startswith("running_var is wrong") and "uses the unbiased one" in r.message for r in failed)
