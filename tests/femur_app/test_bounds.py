"""Every numeric value of the configuration and every command option has a checked range, and the memory a run, a
synthetic set, a preview or a checkpoint needs is refused above the budget before it is allocated
(femur_app/config.py, femur_app/memory.py, femur_app/models/footprint.py; docs/training.md "Limits")."""
import os
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from femur_app import config as configuration, explain, memory, predict, preview, synth, train
from femur_app.errors import ConfigError, DataError
from femur_app.training.folds import assign_folds

ROOT = Path(__file__).resolve().parents[2]
BUDGET = "8"  # GiB: a fixed budget, so that the messages do not depend on this machine's memory
OVER = "needs about {} GiB of memory, more than the budget of 8.0 GiB (FEMUR_APP_MEMORY_GIB=8) (expected smaller " \
       "values; FEMUR_APP_MEMORY_GIB=N raises the budget to N GiB)"


@pytest.fixture(autouse=True)
def fixed_budget(monkeypatch):
    monkeypatch.setenv(memory.ENV, BUDGET)


def refused(capsys, main, argv, quiet=True) -> str:
    """The one line a command prints for ``argv``, asserting status 2 and (``quiet``) nothing on stdout."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert (out == "" or not quiet) and err.count("\n") == 1, err
    return err.removeprefix("error: ").rstrip("\n")


@pytest.mark.parametrize("argv, message", [
    (["--seed", "-1"], "seed: got -1 (expected 0 to 4294967295 (NumPy's seed range))"),
    (["--seed", str(2**40)], "seed: got 1099511627776 (expected 0 to 4294967295 (NumPy's seed range))"),
    (["--jobs", "0"], "run.jobs: got 0 (expected 1 to 256 worker processes)"),
    (["--folds", "101"], "cv.folds: got 101 (expected 2 to 100, and at most the patients of either class)"),
    (["--set", "data.input_size=8"],
     "data.input_size: got 8 (expected a size the model takes: alexnet_bn takes 36 to 1024 pixels)"),
    (["--model", "googlenet", "--set", "model.l2_layers=[]", "--set", "data.input_size=100"],
     "data.input_size: got 100 (expected a size the model takes: googlenet takes 32 to 1024 pixels and a multiple "
     "of 32)"),
    (["--set", "cv.bootstrap=1000000000"], "cv.bootstrap: got 1000000000 (expected 1 to 20,000 replicates)"),
    (["--set", "data.synthetic_seed=-5"],
     "data.synthetic_seed: got -5 (expected 0 to 4294967295 (NumPy's seed range))"),
    (["--test-data", "synthetic:4294967296"], "data.test_source: got 'synthetic:4294967296' (expected a folder or "
                                               "synthetic:SEED, SEED from 0 to 4294967295, e.g. synthetic:2)"),
    (["--set", "data.n=1000000000"], "data.n: got 1000000000 (expected 2 to 100,000 synthetic cases)"),
    (["--set", "model.width=1000"], "model.width: got 1000.0 (expected a channel multiplier > 0 and at most 4.0)"),
    (["--scheduler", "nowhere"],
     "run.scheduler: got 'nowhere' (expected a Dask scheduler address tcp://HOST:PORT, or \"\" to run here)"),
    (["--set", "model.width=4", "--set", "data.input_size=1024"],
     "model alexnet_bn at model.width 4, data.input_size 1024, train.batch_size 32, data.n 500: "
     + OVER.format("345.0")),
    (["--quick", "--set", "data.n=20000"],
     "model alexnet_bn at model.width 0.25, data.input_size 96, train.batch_size 32, run.jobs 2, data.n 20000: "
     + OVER.format("36.8")),
])
def test_train_refuses_each_value_out_of_range_in_one_line_before_writing(tmp_path, capsys, argv, message):
    started = time.perf_counter()
    assert refused(capsys, train.main, argv + ["--out", str(tmp_path / "run")]) == message
    assert time.perf_counter() - started < 1.0  # refused from the configuration alone
    assert not (tmp_path / "run").exists()


def test_the_memory_estimate_adds_up_as_documented(monkeypatch):
    """4 copies of the parameters, the buffers, and per case 3 x the outputs plus the im2col columns (float32);
    the synthetic set: 2 x n x 460 x 700 x 3 bytes, and its prepared stack n x input_size^2 x 4."""
    config = configuration.resolve_options(quick=True)
    network = configuration.footprint("alexnet_bn", width=0.25, input_size=96)
    assert (network.parameters, network.buffers, network.outputs, network.columns) == (1550090, 176, 85026, 194209)
    per_fold = 4 * (4 * 1550090 + 176 + 32 * (3 * 85026 + 194209))
    total = 2 * per_fold + 2 * 500 * 460 * 700 * 3 + 500 * 96 * 96 * 4
    monkeypatch.setenv(memory.ENV, str((total - 1) / 2**30))
    with pytest.raises(ConfigError, match=f"^model alexnet_bn at model.width 0.25, .* needs about "
                                          f"{total / 2**30:.1f} GiB of memory"):
        config.check_memory()
    monkeypatch.setenv(memory.ENV, str((total + 1) / 2**30))
    config.check_memory()


@pytest.mark.parametrize("value", ["zero", "0", "-3", "nan", "inf"])
def test_a_budget_that_is_not_a_positive_number_is_one_line(tmp_path, capsys, monkeypatch, value):
    monkeypatch.setenv(memory.ENV, value)
    assert refused(capsys, synth.main, ["--out", str(tmp_path / "s"), "--n", "10"]) == (
        f"FEMUR_APP_MEMORY_GIB={value!r}: not a memory budget (expected a number of GiB > 0, e.g. "
        "FEMUR_APP_MEMORY_GIB=64)")


def test_the_default_budget_is_80_percent_of_the_machine(monkeypatch):
    monkeypatch.delenv(memory.ENV)
    allowed, source = memory.budget()
    assert allowed == int(0.8 * memory.physical_bytes()) and source.startswith("80% of this machine's ")


@pytest.mark.parametrize("command, argv, message", [
    (synth, ["--n", "1000000000"], "--n 1000000000: more cases than the cap (expected at most 100,000)"),
    (synth, ["--n", "90000"], "--n 90000: " + OVER.format("161.9")),
    (synth, ["--n", "10", "--seed", "-1"], "--seed -1: out of range (expected 0 to 4294967295, NumPy's seed range)"),
    (preview, ["--n", "1000000000"], "--n 1000000000: more cases than a preview shows (expected at most 1000)"),
    (preview, ["--n", "10", "--seed", str(2**40)],
     "--seed 1099511627776: out of range (expected 0 to 4294967295, NumPy's seed range)"),
])
def test_synth_and_preview_refuse_sizes_and_seeds_before_drawing(tmp_path, capsys, command, argv, message):
    assert refused(capsys, command.main, argv + ["--out", str(tmp_path / "o")]) == message
    assert not (tmp_path / "o").exists()


def test_preview_budget_is_checked_before_drawing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(memory.ENV, "0.01")
    assert refused(capsys, preview.main, ["--n", "24", "--out", str(tmp_path / "o")]) == (
        "--n 24: needs about 0.0 GiB of memory, more than the budget of 0.0 GiB (FEMUR_APP_MEMORY_GIB=0.01) "
        "(expected smaller values; FEMUR_APP_MEMORY_GIB=N raises the budget to N GiB)")


@pytest.mark.parametrize("command", [predict, explain])
def test_predict_and_explain_refuse_a_pixel_cap_beyond_the_budget_before_reading_anything(tmp_path, capsys, command):
    """2**31 pixels: 52 bytes each, read and preprocessed, plus 1 MiB (femur_app.data.folder_memory) = 104 GiB.
    Neither the checkpoint nor the image exists: the cap is refused first."""
    argv = ["--model", str(tmp_path / "model.npz"), "--max-pixels", str(2**31), str(tmp_path / "x.png")]
    argv += ["--out", str(tmp_path / "o")] if command is explain else []
    assert refused(capsys, command.main, argv) == ("--max-pixels 2,147,483,648 (one image of that many pixels, read "
                                                   "and preprocessed): " + OVER.format("104.0"))


def test_a_config_file_is_refused_by_type_and_size_before_it_is_read(tmp_path, capsys):
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (2**20 + 1))
    for path, what in [("/dev/zero", "is not a regular file (a device, pipe or socket)"), (tmp_path, "is a folder"),
                       (big, "is 1,048,577 bytes (expected a TOML configuration file of at most 1,048,576)")]:
        line = refused(capsys, train.main, ["--config", str(path), "--out", str(tmp_path / "run")])
        expected = f"{path}: {what}" + ("" if "bytes" in what else " (expected a TOML configuration file)")
        assert line == expected
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"seed = 1\n\xff\n")
    assert refused(capsys, train.main, ["--config", str(binary)]) == (
        f"{binary}: not UTF-8 text (byte 9) (expected a TOML file)")


def test_folds_must_not_outnumber_the_patients_of_a_class():
    patients = np.arange(12).astype(str)
    with pytest.raises(ConfigError) as error:
        assign_folds(np.array([0] * 9 + [1] * 3), patients, 5, seed=0)
    assert str(error.value) == ("cv.folds 5: more folds than patients of a class, 9 benign and 3 malignant (expected "
                                "cv.folds <= 3, so that every fold holds both classes)")
    with pytest.raises(DataError) as error:
        assign_folds(np.zeros(12, int), patients, 2, seed=0)
    assert str(error.value) == ("the data: 12 benign and 0 malignant patients (expected both classes: a "
                                "cross-validated AUC, sensitivity and specificity need them)")


def test_a_labels_table_of_one_class_is_one_line_before_training(tmp_path, capsys):
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    rows = ["path,label,patient_id"]
    for i in range(6):
        iio.imwrite(data / "images" / f"{i}.png", np.random.default_rng(i).integers(0, 255, (48, 48), np.uint8))
        rows.append(f"images/{i}.png,benign,P{i}")
    (data / "labels.csv").write_text("\n".join(rows) + "\n")
    line = refused(capsys, train.main, ["--data", str(data), "--config", "femur_app/configs/smoke.toml",
                                        "--out", str(tmp_path / "run")], quiet=False)  # train names the BLAS first
    assert line == ("the data: 6 benign and 0 malignant patients (expected both classes: a cross-validated AUC, "
                    "sensitivity and specificity need them)")


# Runs a module as ``python -m`` would and, as the interpreter exits, writes its own peak resident memory (VmHWM,
# kB) to the file named by argv[1]. VmHWM belongs to the memory map exec made, so it is this interpreter's alone:
# wait4's ru_maxrss is not - exec keeps the maximum over the old map, and a child made by vfork from a large test
# process starts out with that process's peak (in the whole suite, 1.6 GiB).
OWN_PEAK = """
import atexit, re, runpy, sys
report, module = sys.argv[1], sys.argv[2]
def write_peak():
    with open("/proc/self/status") as status, open(report, "w") as out:
        out.write(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
atexit.register(write_peak)
sys.argv = [module, *sys.argv[3:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def peak_of(argv, env, folder) -> tuple[int, str, int]:
    """(exit status, stderr, peak resident bytes) of ``python -m argv`` in a child, the peak the child's own
    (``OWN_PEAK``)."""
    report = folder / "peak_kb.txt"
    child = subprocess.run([sys.executable, "-c", OWN_PEAK, str(report), *argv], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return child.returncode, child.stderr, int(report.read_text()) * 1024


@pytest.mark.parametrize("argv", [
    ["femur_app.train", "--set", "model.width=4", "--set", "data.input_size=1024"],
    ["femur_app.synth", "--n", "90000"],
])
def test_a_refused_size_peaks_far_below_what_it_asked_for(tmp_path, argv):
    """Each case runs in a fresh interpreter, whose own peak is measured (``peak_of``)."""
    env = {"PATH": "/usr/bin:/bin", "FEMUR_APP_MEMORY_GIB": BUDGET, "HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT)}
    status, err, peak = peak_of(argv + ["--out", str(tmp_path / "o")], env, tmp_path)
    assert status == 2 and err.count("\n") == 1 and "more than the budget of 8.0 GiB" in err, err
    assert peak < 1.5 * 2**30
