"""A run folder belongs to one run (femur_app.training.run_folder), on the real command ``femur_app.train``:
the lock, the fingerprint checked on resume, states and fold results that know their fold and run, damaged
models trained again, outputs moved in together, partial files removed, and the checkpoint interval.

Every refusal is exit status 2 with exactly one line on stderr naming the culprit, and no traceback. The runs
are smoke-sized (femur_app/configs/smoke.toml: 40 cases, 2 folds, 1 epoch, a tiny network), serial (--jobs 1).
"""
import csv
import hashlib
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from femur_app import compare, config, synth
from femur_app.errors import DataError, UserError
from femur_app.models import checkpoint
from femur_app.train import main
from femur_app.training import cross_validation, fingerprint, repeats, run_folder

ROOT = Path(__file__).resolve().parents[3]
SMOKE = ["--quick", "--config", "femur_app/configs/smoke.toml", "--jobs", "1", "--set", "cv.bootstrap=50"]


def train(out, *extra) -> int:
    return main([*SMOKE, "--out", str(out), *extra])


def predictions(out) -> list[dict]:
    with open(out / "predictions.csv") as f:
        return list(csv.DictReader(f))


def one_error_line(capsys) -> str:
    """The one error line on stderr of a refused command; the rest may only be progress bars (tqdm's, which a
    refusal in the middle of a fold leaves unfinished on the terminal line that the error then starts on)."""
    err = capsys.readouterr().err
    errors = re.findall(r"error: [^\r\n\x1b]*", err)
    rest = [p for p in re.split(r"[\r\n]|\x1b\[A", re.sub(r"error: [^\r\n\x1b]*", "", err)) if p.strip()]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert all("it/s" in p or "s/it" in p for p in rest), err  # s/it: a slow step on a busy machine
    return errors[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished smoke run, copied (never changed) by the tests."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert train(out) == 0
    return out


def copy_of(finished, tmp_path):
    return shutil.copytree(finished, tmp_path / "run")


def interrupted(monkeypatch, out, *extra):
    """A run killed once its data are loaded and fingerprinted, before any fold finished."""
    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(cross_validation, "run_folds", killed)
        assert train(out, *extra) == 130  # Ctrl-C: one line and exit 130 (femur_app.cli)


# --- the lock ---------------------------------------------------------------------------------------------------
HOLD = ("import sys; from femur_app.training import run_folder\n"
        "with run_folder.lock(sys.argv[1]):\n    print('held', flush=True); sys.stdin.read()")


def test_a_second_run_into_a_folder_in_use_is_refused_naming_the_pid(tmp_path, capsys):
    """The issue's case: two runs with different learning rates into one folder at the same time."""
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "femur_app.train", *SMOKE, "--out", str(out),
                              "--set", "train.lr=0.001"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not ((out / "run.lock").exists() and (out / "run.lock").read_text() == f"{first.pid}\n"):
            assert first.poll() is None and time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.02)
        assert train(out, "--set", "train.lr=0.002") == 2
        assert one_error_line(capsys) == (
            f"error: {out}: in use by another run (pid {first.pid}, which holds {out / 'run.lock'}) "
            "(expected one run per folder: wait for it to end, or use another --out)")
        _, err = first.communicate(timeout=300)  # reads the pipes, so the first run never blocks on them
        assert first.returncode == 0, err
    finally:
        first.kill()
        first.wait()
    assert "lr = 0.001" in (out / "config.toml").read_text()
    assert (out / "train.log").read_text().count("start: ") == 1  # the second run wrote nothing


def test_a_stale_lock_of_a_killed_run_is_taken_over(finished, tmp_path):
    out = copy_of(finished, tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline() == "held\n"
    holder.send_signal(signal.SIGKILL)  # killed: the kernel drops its flock, its pid stays in run.lock
    holder.wait()
    assert (out / "run.lock").read_text() == f"{holder.pid}\n"
    assert train(out) == 0
    assert f"took over run.lock from pid {holder.pid}, which no longer holds it" in (out / "train.log").read_text()
    assert (out / "run.lock").read_text() == ""  # released at the end


# --- the fingerprint --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folder_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("data") / "cases"
    assert synth.main(["--out", str(data), "--n", "40", "--n-malignant", "14"]) == 0
    return data


def test_changed_data_on_resume_is_refused_naming_the_cases(folder_data, tmp_path, monkeypatch, capsys):
    data = shutil.copytree(folder_data, tmp_path / "data")
    out = tmp_path / "run"
    interrupted(monkeypatch, out, "--data", str(data))
    rows = (data / "labels.csv").read_text().splitlines()
    header, body = rows[0], rows[1:]
    label = header.split(",").index("label")
    flipped = []
    for i in (0, 1, 2):  # flip three labels
        cells = body[i].split(",")
        cells[label] = {"benign": "malignant", "malignant": "benign"}[cells[label]]
        body[i] = ",".join(cells)
        flipped.append(cells[0])
    dropped = [body[-1].split(",")[0], body[-2].split(",")[0]]
    (data / "labels.csv").write_text("\n".join([header, *body[:-2]]) + "\n")  # drop two rows
    capsys.readouterr()
    assert train(out, "--data", str(data)) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {out}: the run's data changed since it started (2 case(s) removed (")
    case_ids = [path.removesuffix(".png") for path in dropped + flipped]  # a case id is its path without suffix
    assert all(case in line for case in case_ids) and "3 label(s) changed" in line, line
    assert line.endswith("(expected the same configuration and data to resume; --restart starts over, "
                         "or use another --out)")
    interrupted(monkeypatch, out, "--data", str(data), "--restart")  # --restart: past the check, started over
    assert "restart: the previous run's checkpoints" in (out / "train.log").read_text()


def test_fingerprint_changes_are_named():
    before = {"version": 1, "config": {"seed": 0}, "cases": [["a", "p1", 0, "x"], ["b", "p2", 1, "y"]], "folds": [1, 2]}
    assert fingerprint.changes(before, before) == []
    now = {**before, "cases": [["a", "p1", 0, "z"], ["b", "p9", 1, "y"]]}
    assert fingerprint.changes(before, now) == ["1 patient id(s) changed (b)", "1 image(s) changed (a)"]
    assert fingerprint.changes(before, {**before, "folds": [2, 1]}) == [
        "the fold assignment changed (2 case(s) in another fold: a, b; another scikit-learn version?)"]
    assert fingerprint.changes(before, {**before, "config": {"seed": 1}}) == ["configuration seed: 0 -> 1"]


# --- states and results that know their fold and run -------------------------------------------------------------
def test_a_state_file_of_another_fold_is_refused(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    real, calls = checkpoint.save_state, []

    def save_then_kill(*args, **kwargs):
        path = real(*args, **kwargs)
        calls.append(path.name)
        raise KeyboardInterrupt  # killed right after fold 1's first state was written

    with monkeypatch.context() as m:
        m.setattr(checkpoint, "save_state", save_then_kill)
        assert train(out, "--epochs", "2", "--set", "run.checkpoint_minutes=0") == 130
    assert calls == ["fold_01.state.npz"]
    states = out / "checkpoints"
    shutil.copy(states / "fold_01.state.npz", states / "fold_02.state.npz")  # fold 1's state over fold 2's
    capsys.readouterr()
    assert train(out, "--epochs", "2", "--set", "run.checkpoint_minutes=0") == 2
    run = run_folder.run_id(out)
    assert one_error_line(capsys) == (
        f"error: {states / 'fold_02.state.npz'}: is the training state of run {run}, fold 1, not of run {run}, "
        "fold 2 (expected fold 2's own training state; delete the file to train the fold from its start)")


def test_an_edited_fold_result_is_refused(finished, tmp_path, capsys):
    out = copy_of(finished, tmp_path)
    path = out / "folds" / "fold_01.json"
    result = json.loads(path.read_text())
    result["prob_malignant"][0] = 1.0 - result["prob_malignant"][0]  # valid JSON, one number changed
    path.write_text(json.dumps(result))
    assert train(out) == 2
    assert one_error_line(capsys) == (
        f"error: {path}: its content does not match its checksum, so it was edited or damaged (expected the file "
        "as this run wrote it; delete it to train fold 1 again)")
    shutil.copy(out / "folds" / "fold_02.json", path)  # a whole, valid result - of fold 2
    assert train(out) == 2
    assert f"error: {path}: is the result of fold 2 of run {run_folder.run_id(out)}, not of fold 1" in \
        one_error_line(capsys)
    path.write_text("{garbage")
    assert train(out) == 2
    assert one_error_line(capsys).startswith(f"error: {path}: damaged, not the JSON a finished fold writes")


# --- one rerun after a kill that left damage behind --------------------------------------------------------------
@pytest.fixture(scope="module")
def rerun(finished, tmp_path_factory):
    """A copy of the finished run, damaged as a kill or a mishap leaves it, then run again: a corrupt model of fold
    1, partial .tmp files of interrupted writes, an unfinished staging folder. Returns (folder, exit status)."""
    out = shutil.copytree(finished, tmp_path_factory.mktemp("rerun") / "run")
    model = out / "checkpoints" / "fold_01.npz"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    for partial in (out / ".predictions.csv.x1.tmp", out / "checkpoints" / ".fold_02.state.npz.x2.tmp"):
        partial.write_bytes(b"half a file")
    (out / ".staging").mkdir()
    (out / ".staging" / "predictions.csv").write_text("unfinished")
    return out, train(out)


def test_a_corrupt_model_of_a_finished_fold_is_trained_again(finished, rerun):
    out, status = rerun
    assert status == 0
    log = (out / "train.log").read_text()
    assert ("fold 1: its model fold_01.npz does not match the SHA-256 its fold recorded (damaged or replaced); "
            "training fold 1 again") in log
    assert log.count("fold 1 epoch 1/1") == 2 and log.count("fold 2 epoch 1/1") == 1  # only fold 1 again
    assert predictions(out) == predictions(finished)  # training is deterministic: the same model comes back
    again, _ = checkpoint.serialize.load(out / "checkpoints" / "fold_01.npz")
    first, _ = checkpoint.serialize.load(finished / "checkpoints" / "fold_01.npz")
    assert again.keys() == first.keys() and all(np.array_equal(again[k], first[k]) for k in first)


def test_partial_files_and_an_unfinished_staging_folder_are_removed(rerun):
    out, _ = rerun
    log = (out / "train.log").read_text()
    assert "removed 2 partial file(s) of an interrupted write: .predictions.csv.x1.tmp" in log
    assert "removed the unfinished outputs of an interrupted session" in log
    assert not list(out.rglob("*.tmp")) and not (out / ".staging").exists()


def test_a_failed_rerun_leaves_the_previous_outputs_whole(finished, tmp_path, monkeypatch):
    out = copy_of(finished, tmp_path)
    before = {name: (out / name).read_bytes() for name in json.loads((out / "outputs.json").read_text())}
    assert {"predictions.csv", "metrics.json", "report.md", "roc.png"} <= set(before)
    real = cross_validation.render

    def fails_half_way(evaluation, setup, staging):
        evaluation.predictions.probs[:] = np.nan  # what a broken rerun would write ...
        evaluation.predictions.write_csv(staging / "predictions.csv")
        raise OSError("No space left on device")  # ... before it fails

    monkeypatch.setattr(cross_validation, "render", fails_half_way)
    assert train(out) == 1  # a fault of the machine (femur_app.cli)
    assert {name: (out / name).read_bytes() for name in before} == before and not (out / ".staging").exists()
    monkeypatch.setattr(cross_validation, "render", real)


# --- checkpoint cost (issue 12) ----------------------------------------------------------------------------------
def test_the_state_is_written_after_the_last_epoch_only_and_deleted_with_the_fold(tmp_path, monkeypatch):
    real, calls = checkpoint.save_state, []

    def counted(path, model, optimizer, rngs, epoch, *args, **kwargs):
        calls.append((path.name, epoch))
        return real(path, model, optimizer, rngs, epoch, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "save_state", counted)
    out = tmp_path / "run"
    assert train(out, "--epochs", "3") == 0  # run.checkpoint_minutes = 10: no fold lasts that long here
    assert calls == [("fold_01.state.npz", 3), ("fold_02.state.npz", 3)]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["fold_01.npz", "fold_02.npz", "null.npz"]


def test_checkpoint_due_counts_minutes(monkeypatch):
    monkeypatch.setattr(run_folder.time, "monotonic", lambda: 1000.0)
    assert run_folder.checkpoint_due(1000.0, 0)  # 0: after every epoch
    assert not run_folder.checkpoint_due(1000.0 - 599.0, 10) and run_folder.checkpoint_due(1000.0 - 600.0, 10)


# --- the mark: a command writes only into its own kind of run folder (issue 29, item 5) ----------------------------
def snapshot(folder: Path) -> dict:
    """Every entry below ``folder`` -> its bytes (files), its target (links) or None (folders)."""
    return {str(p.relative_to(folder)): (("link", str(p.readlink())) if p.is_symlink() else
                                         None if p.is_dir() else p.read_bytes()) for p in sorted(folder.rglob("*"))}


@pytest.fixture
def project(tmp_path):
    """A user's project folder: files and a checkpoints/ and folds/ of their own."""
    folder = tmp_path / "project"
    for name, text in (("README.md", "mine"), ("src/main.py", "print()"), ("checkpoints/best.npz", "weights"),
                       ("folds/split.json", "[]")):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("extra", [[], ["--restart"], ["--repeats", "2"]])
def test_a_folder_of_the_users_is_neither_written_into_nor_deleted(project, capsys, extra):
    before = snapshot(project)
    assert train(project, *extra) == 2
    assert one_error_line(capsys) == (
        f"error: {project}: holds files that are not a run folder (README.md, checkpoints/, folds/, src/) (expected "
        "a new or empty folder for --out, or a run folder of femur_app to resume; nothing of this folder is changed)")
    assert snapshot(project) == before


def test_compare_refuses_a_folder_of_the_users(project, capsys):
    before = snapshot(project)
    assert compare.main(["--quick", "--models", "alexnet_bn,radiomics", "--out", str(project)]) == 2
    assert one_error_line(capsys).startswith(f"error: {project}: holds files that are not a run folder (README.md")
    assert snapshot(project) == before


def test_a_run_folder_without_the_mark_is_refused_saying_what_to_do(finished, tmp_path, capsys):
    out = copy_of(finished, tmp_path)
    (out / run_folder.MARK).unlink()
    before = snapshot(out)
    assert train(out, "--restart") == 2
    assert one_error_line(capsys) == (
        f"error: {out}: holds a run folder without the mark run_folder.json (checkpoints/, config.toml, "
        "confusion_matrix.png, failures.png, fingerprint.json, folds/ and 11 more): made by a version of femur_app "
        "before run folders were marked, or not by femur_app (expected a run folder this version made: start the "
        "run again with another --out; nothing of this folder is changed)")
    assert snapshot(out) == before


@pytest.mark.parametrize("text", ["{}", "not json", '{"made_by": "femur_app run folder", "kind": "run", "key": "00"}',
                                  '{"made_by": "femur_app run folder", "kind": "bank", "key": "' + "0" * 64 + '"}'])
def test_a_mark_that_is_not_ours_is_refused(tmp_path, capsys, text):
    out = tmp_path / "run"
    out.mkdir()
    (out / run_folder.MARK).write_text(text)
    assert train(out) == 2
    assert one_error_line(capsys) == (
        f"error: {out / run_folder.MARK}: is not the mark of a femur_app run folder (expected the JSON object "
        "femur_app writes when it makes a run folder; use another --out)")
    assert sorted(p.name for p in out.iterdir()) == [run_folder.MARK]


def test_repeats_refuse_a_single_runs_folder_and_the_reverse(finished, tmp_path, capsys):
    out = copy_of(finished, tmp_path)
    before = snapshot(out)
    assert train(out, "--repeats", "2") == 2
    assert one_error_line(capsys) == (
        f"error: {out}: is the folder of a cross-validation run (python -m femur_app.train), not of a repeated "
        "cross-validation (--repeats K) (expected a new folder for this one: use another --out)")
    assert snapshot(out) == before
    repeated = tmp_path / "repeated"
    with run_folder.lock(repeated, "repeats"):
        pass
    assert train(repeated) == 2
    assert one_error_line(capsys) == (
        f"error: {repeated}: is the folder of a repeated cross-validation (--repeats K), not of a cross-validation "
        "run (python -m femur_app.train) (expected a new folder for this one: use another --out)")


def test_a_refused_repeated_rerun_leaves_its_config_as_it_was(tmp_path):
    """A repeated run interrupted in its first repetition, then started with another learning rate: refused before
    its config.toml is written (it was half-updated: the top folder's new, the repetitions' old)."""
    out = tmp_path / "run"

    def interrupted_repetition(config, folder):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        repeats.run_repeated(config.resolve(), out, interrupted_repetition)
    before = snapshot(out)
    called = []
    with pytest.raises(UserError, match=r"holds a run with a different configuration \(train.lr: 0.01 -> 0.02\)"):
        repeats.run_repeated(config.resolve_options(assignments=["train.lr=0.02"]), out, lambda c, d: called.append(d))
    assert snapshot(out) == before and called == []


@pytest.mark.parametrize("name", ["run.lock", "train.log", "checkpoints", "folds", "config.toml"])
def test_the_run_folders_own_entries_are_never_links(finished, tmp_path, capsys, name):
    """A run.lock linked to a user's file had it truncated; a train.log link had lines appended to its target."""
    out = copy_of(finished, tmp_path)
    victim = tmp_path / "victim"
    if name in ("checkpoints", "folds"):
        victim.mkdir()
        (victim / ".keep.tmp").write_text("mine")  # what remove_partial_files would delete there
    else:
        victim.write_text("the user's\n")
    _remove(out / name)
    (out / name).symlink_to(victim)
    before = snapshot(tmp_path / "victim") if victim.is_dir() else victim.read_bytes()
    assert train(out, "--restart") == 2
    assert one_error_line(capsys) == (
        f"error: {out}: its {name} is a symbolic link (expected the run folder's own files and folders: a run never "
        "follows a link out of its folder)")
    assert (snapshot(victim) if victim.is_dir() else victim.read_bytes()) == before


def _remove(path):
    shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def test_a_link_is_never_opened_as_a_file_of_the_run(tmp_path):
    """The belt under claim's braces: the run's files are opened with O_NOFOLLOW."""
    out = tmp_path / "run"
    with run_folder.lock(out):
        pass
    victim = tmp_path / "victim"
    victim.write_text("the user's\n")
    (out / "train.log").symlink_to(victim)
    with pytest.raises(UserError, match=r"train.log: is a symbolic link \(expected the run folder's own file"):
        run_folder.log(out, "a line")
    (out / "fold.npz").symlink_to(victim)
    with pytest.raises(UserError, match=r"fold.npz: is a symbolic link"):
        run_folder.own_file(out / "fold.npz")
    assert victim.read_text() == "the user's\n"


def test_a_model_or_state_swapped_for_a_link_after_the_check_is_refused_as_it_opens(finished, tmp_path):
    """own_file's check and the open are two steps; a link swapped in between is refused by the open itself."""
    out = copy_of(finished, tmp_path)
    model = run_folder.fold_paths(out, 1)["model"]
    moved = tmp_path / "elsewhere.npz"
    model.rename(moved)
    model.symlink_to(moved)
    with pytest.raises(DataError, match=rf"^{model}: unreadable model checkpoint \({model}: is a symbolic link"):
        checkpoint.load(model, follow_symlinks=False)
    assert checkpoint.load(model).fold == 1  # a user's own link, outside a run folder, is followed
    with pytest.raises(DataError, match=rf"^{model}: unreadable training state \({model}: is a symbolic link"):
        checkpoint.load_state(model, None, None, {})


@pytest.mark.parametrize("manifest", [".staging/.complete", "outputs.json"])
@pytest.mark.parametrize("name", ["../victim", "/tmp", "..", "checkpoints", "run_folder.json"])
def test_a_name_read_from_the_run_folder_must_be_an_output_inside_it(finished, tmp_path, capsys, manifest, name):
    """A crafted staging list or outputs.json: a name with ../ made the command move or delete a folder outside."""
    out = copy_of(finished, tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data").write_text("the user's")
    (out / ".staging").mkdir(exist_ok=True)
    (out / manifest).write_text(json.dumps(["report.md", name]))
    before = snapshot(tmp_path / "victim"), snapshot(out / "checkpoints"), (out / run_folder.MARK).read_bytes()
    assert train(out) == 2
    assert one_error_line(capsys) == (
        f"error: {out / manifest}: names {name!r}, which is not an output inside the run folder (expected plain "
        "output names such as report.md; delete the file, the run writes its outputs again)")
    assert (snapshot(victim), snapshot(out / "checkpoints"), (out / run_folder.MARK).read_bytes()) == before


def test_a_fold_file_with_a_recomputed_plain_hash_is_refused(finished, tmp_path, capsys):
    """The probe's case: probabilities flipped and the (then unkeyed) checksum recomputed - AUC 0.537 -> 0.463."""
    out = copy_of(finished, tmp_path)
    path = out / "folds" / "fold_01.json"
    result = json.loads(path.read_text())
    result["prob_malignant"] = [1.0 - p for p in result["prob_malignant"]]
    body = {key: value for key, value in result.items() if key != "checksum"}
    result["checksum"] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    path.write_text(json.dumps(result))
    assert train(out) == 2
    assert one_error_line(capsys) == (
        f"error: {path}: its content does not match its checksum, so it was edited or damaged (expected the file "
        "as this run wrote it; delete it to train fold 1 again)")


@pytest.mark.parametrize("field, value, problem", [
    ("prob_malignant", [-3.0, 7.0], "prob_malignant is not a list of 20 probabilities, one per held-out case"),
    ("prob_malignant", None, "prob_malignant is not a list of 20 probabilities, one per held-out case"),
    ("prob_malignant", [7.0] * 20, "prob_malignant holds 7.0, not a probability in [0, 1]"),
    ("prob_malignant", [None] * 20, "prob_malignant holds None, not a probability in [0, 1]"),
    ("prob_malignant", [True] * 20, "prob_malignant holds True, not a probability in [0, 1]"),
    ("n_test", 19, "n_test 19 and n_train 20 are not the fold's case counts"),
    ("status", None, "status None is not finished or diverged with a message"),
    ("seconds", -1, "seconds or peak_rss_mib is not a non-negative number"),
    ("epochs_run", 5, "epochs_run 5 does not count the epochs of its learning curve"),
    ("history", [{"epoch": 1}], "its learning curve holds {'epoch': 1}, not an epoch's finite numbers"),
])
def test_a_fold_file_signed_with_the_key_but_impossible_is_refused_naming_the_field(finished, tmp_path, capsys,
                                                                                    field, value, problem):
    """Whoever holds the folder's key can sign anything: what no fold writes is still refused, naming the file."""
    out = copy_of(finished, tmp_path)
    path = out / "folds" / "fold_01.json"
    result = {**json.loads(path.read_text()), field: value}
    result["checksum"] = run_folder._checksum(result, run_folder.run_key(out))
    path.write_text(json.dumps(result))
    assert train(out) == 2
    assert one_error_line(capsys) == (
        f"error: {path}: {problem}, which no finished fold writes (expected the file as this run wrote it; delete "
        "it to train fold 1 again)")
