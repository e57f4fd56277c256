"""The capstone: ``python docs/capstone.py DIR`` checks every op of a learner's exercise files against the plain
tier, names the first that differs (and then trains nothing), or trains AlexNet-BN with them as the tier and prints
their learning curve beside the plain tier's. Kept small here: 40 synthetic cases, one epoch."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minicnn.exercises import SOLUTIONS, capstone

ROOT = Path(__file__).resolve().parents[1]


def run(folder, *args, cache):
    env = dict(os.environ, PYTHONPATH=str(ROOT), FEMUR_APP_CACHE=str(cache))
    return subprocess.run([sys.executable, str(ROOT / "docs" / "capstone.py"), str(folder), *args], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=900)


def learner_folder(tmp_path, plant=None):
    """The worked solutions copied as a learner's folder; ``plant`` = (file, old, new) puts one bug in."""
    folder = tmp_path / "mywork"
    folder.mkdir()
    for name in capstone.NEEDED:
        shutil.copyfile(SOLUTIONS / f"{name}.py", folder / f"{name}.py")
    if plant:
        file, old, new = plant
        text = (folder / file).read_text()
        assert text.count(old) == 1
        (folder / file).write_text(text.replace(old, new))
    return folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("capstone_cache")


def test_the_worked_solutions_train_beside_the_plain_tier(tmp_path, cache):
    result = run(learner_folder(tmp_path), "--n", "40", "--epochs", "1", cache=cache)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count("\nok   ") == len(capstone._cases()) and "FAIL" not in out
    assert "30 synthetic training cases, 10 held out" in out
    row = re.search(r"\n\s+1\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+\|\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\n", out)
    assert row, out
    plain_curve, your_curve = row.groups()[:3], row.groups()[3:]
    assert plain_curve == your_curve  # the same weights, batches and masks: the same numbers to four decimals
    assert "largest difference between the two training-loss curves" in out


def test_one_planted_bug_is_named_and_nothing_is_trained(tmp_path, cache):
    folder = learner_folder(tmp_path, ("conv_im2col.py", "] += d[:, :, :, :, p, q]", "] = d[:, :, :, :, p, q]"))
    result = run(folder, "--n", "40", "--epochs", "1", cache=cache)
    assert result.returncode == 1, result.stdout + result.stderr
    # conv1 passes (no dx is asked of the first layer); conv2's dx goes through col2im, where 5 x 5 windows overlap
    assert "ok   conv2d, 11 x 11 stride 4" in result.stdout
    assert "FAIL conv2d, 5 x 5, padding 2, bias\n     conv2d_backward: dx is wrong" in result.stdout
    assert "conv2d, 5 x 5, padding 2, bias differs from minicnn.plain: fix it in conv_im2col" in result.stdout
    assert "python -m minicnn.exercises check conv_im2col" in result.stdout
    assert "epoch" not in result.stdout and "AlexNet-BN" not in result.stdout


def test_a_folder_that_is_not_one_is_one_line_and_status_2(tmp_path, cache):
    result = run(tmp_path / "nowhere", cache=cache)
    assert result.returncode == 2 and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    folder = learner_folder(tmp_path)
    (folder / "softmax_ce.py").unlink()
    result = run(folder, cache=cache)
    assert result.returncode == 2 and "softmax_ce.py: no such file" in result.stderr
    (folder / "softmax_ce.py").write_text("from minicnn.plain import softmax_cross_entropy\n")
    result = run(folder, cache=cache)
    assert result.returncode == 2 and result.stderr.startswith("error: refused: ") and "imports from minicnn.plain" \
        in result.stderr
