"""benchmarks/predict_throughput.py still runs: once, on a tiny network and four images, untimed (no assertion on
a time; only that every row is printed, predict's run was checked, and minicnn agrees with PyTorch)."""
from __future__ import annotations

import contextlib
import io
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import require_torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import predict_throughput  # noqa: E402

N = 4
TINY = ["--n", str(N), "--repeat", "1", "--set", "data.input_size=40", "--set", "model.width=0.125"]  # smoke.toml's
RATE = r"([0-9.]+) images/s"


@pytest.fixture(scope="module")
def run():
    """(exit status, stdout) of one tiny run."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = predict_throughput.main(TINY)
    return status, out.getvalue()


def rate(text: str) -> float:
    value = float(text)
    assert math.isfinite(value) and value > 0, text
    return value


def test_prints_the_machine_and_every_minicnn_row(run):
    status, out = run
    assert status == 0, out
    assert re.search(r"^machine: .+, \d+ cores$", out, re.M), out
    assert f"check: femur_app.predict's {N} probabilities = minicnn's batch-1 forward" in out
    rate(re.search(rf"^femur_app\.predict \(whole command, {N} images\): {RATE}$", out, re.M).group(1))
    assert re.search(r"^  its parts, timed apart: loading the checkpoint [0-9.]+ s, .* the command [0-9.]+ s$",
                     out, re.M), out
    for batch in ("1", str(N)):
        rate(re.search(rf"^inference only, batch {batch}: minicnn {RATE}", out, re.M).group(1))
    assert "malloc: the C library's defaults" in out  # the test leaves the process's malloc as it is
    assert re.search(r"^this process: [0-9.]+ s user and [0-9.]+ s kernel \(system\) CPU time, \d+ page faults",
                     out, re.M), out


def test_torch_rows_and_agreement(run):
    require_torch()
    status, out = run
    for batch in ("1", str(N)):
        line = re.search(rf"^inference only, batch {batch}: minicnn {RATE}, torch {RATE}, "
                         r"minicnn/torch time ratio ([0-9.]+)$", out, re.M)
        assert line, out
        assert all(rate(v) for v in line.groups())
    agreement = re.search(r"max \|P\(malignant\) difference\| (\S+) .*: (ok|DISAGREE)$", out, re.M)
    assert agreement, out
    assert float(agreement.group(1)) < 1e-4
    assert agreement.group(2) == "ok" and status == 0, out


def test_agreement_flags_a_twin_off_by_one_percent():
    """Untrained logits are tiny, so every probability is near 0.5: the logit bound must still see a wrong twin."""
    logits = np.array([[1e-5, -2e-5], [3e-5, 0.0]], np.float32)
    same = {"minicnn 1": logits, "torch 1": logits.copy(), "minicnn n": logits, "torch n": logits.copy()}
    assert predict_throughput.agreement(same)[0]
    off = {**same, "torch n": logits * 1.01}
    ok, line = predict_throughput.agreement(off)
    assert not ok and line.endswith("DISAGREE"), line
