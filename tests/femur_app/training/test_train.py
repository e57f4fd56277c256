"""femur_app.train and the training API under it (femur_app.training.run), end to end on a tiny configuration
(24 cases, 3 folds, 2 epochs, 40 px, 1/16 widths): the run folder, reproducibility, resume after an interruption,
joblib and Dask execution, divergence, typed configuration and its errors."""
import csv
import json
import os
import signal
import threading
import time
import tomllib

import numpy as np
import pytest

from femur_app import train, training
from femur_app.config import ConfigError, resolve
from femur_app.data.normalise import Normalisation
from femur_app.reporting.outputs import metrics_record
from femur_app.models import checkpoint
from femur_app.evaluation.predictions import Predictions
from femur_app.train import main
from femur_app.data import load
from femur_app.training import cross_validation, fold
from minicnn import step as minicnn_step

TINY = ["--folds", "3", "--epochs", "2", "--set", "data.n=24", "--set", "data.n_malignant=8",
        "--set", "data.input_size=40", "--set", "model.width=0.0625", "--set", "cv.bootstrap=200"]
RUN_FILES = {"config.toml", "train.log", "predictions.csv", "metrics.json", "folds.csv", "roc.png",
             "confusion_matrix.png", "learning_curves.png", "reliability.png", "gallery.png", "report.md"}


def run(out, *extra) -> list[dict]:
    assert main(["--out", str(out), *TINY, *extra]) == 0
    with open(out / "predictions.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted serial run that the other tests compare with."""
    out = tmp_path_factory.mktemp("reference")
    return out, run(out)


def test_run_folder_holds_every_output(reference):
    out, rows = reference
    assert RUN_FILES <= {p.name for p in out.iterdir()}
    # a finished fold's training state is deleted once its model and result are written (issue 12); the null model
    # (shuffled labels, Grad-CAM's baseline) is kept beside the folds' models
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["fold_01.npz", "fold_02.npz", "fold_03.npz",
                                                                      "null.npz"]
    assert list(rows[0]) == ["case_id", "patient_id", "fold", "label", "prob_malignant", "pred"]
    assert len(rows) == 24 and sorted({r["fold"] for r in rows}) == ["1", "2", "3"]
    assert sum(int(r["label"]) for r in rows) == 8
    with open(out / "folds.csv") as f:
        folds = list(csv.DictReader(f))
    assert [(r["fold"], r["n_test"], r["epochs_run"], r["status"]) for r in folds] == [
        ("1", "8", "2", "finished"), ("2", "8", "2", "finished"), ("3", "8", "2", "finished")]
    # each fold records its held-out AUC per epoch (the learning curve the paper run's record keeps) and its peak RSS
    for k in (1, 2, 3):
        result = json.loads((out / "folds" / f"fold_{k:02d}.json").read_text())
        held_out = np.array([int(r["label"]) for r in rows if r["fold"] == str(k)])
        assert [h["epoch"] for h in result["history"]] == [1, 2]
        assert all(0 <= h["heldout_auc"] <= 1 for h in result["history"]) and len(set(held_out)) == 2
        assert result["peak_rss_mib"] > 50  # MiB: at least the interpreter and NumPy (Linux)
    log = (out / "train.log").read_text()
    assert log.count(" epoch 1/2 ") == 3 and log.count(" epoch 2/2 ") == 3 and "Estimated training time" in log
    report = (out / "report.md").read_text()
    for text in ("98.34", "97.26", "95.74", "96.37", "0.848", "96.58", "0.688",  # the paper's tables
                 "accuracy 96.24%", "precision 95.50%", "48.2% positive", "AUC >= 0.931",  # the consistency check
                 "synthetic", "Seed**: 0", "NumPy", "reduced CPU variant"):
        assert text in report, text


def test_resolved_config_is_written_and_reusable(reference, tmp_path):
    out, _ = reference
    saved = tomllib.loads((out / "config.toml").read_text())
    assert saved["cv"]["folds"] == 3 and saved["data"]["input_size"] == 40 and saved["model"]["width"] == 0.0625
    assert resolve([out / "config.toml"]).to_dict() == saved  # the file is a complete, valid --config


def test_checkpoint_carries_what_prediction_needs(reference):
    out, rows = reference
    model, meta = checkpoint.load_model(out / "checkpoints" / "fold_02.npz")
    assert meta["architecture"] == "alexnet_bn" and meta["input_size"] == 40 and meta["threshold"] == 0.5
    assert meta["class_names"] == ["benign", "malignant"] and meta["model_kwargs"]["width"] == 0.0625
    # the rebuilt model reproduces fold 2's stored predictions from the cached preprocessed images
    settings = resolve([out / "config.toml"]).data
    data = load(settings.source, settings)
    held = [i for i, r in enumerate(rows) if r["fold"] == "2"]
    probs = fold.predict(model, data.X[held], Normalisation.from_dict(meta["normalisation"]), 32, "cpu")
    assert probs.tolist() == [float(rows[i]["prob_malignant"]) for i in held]


def test_the_training_api_returns_what_the_run_folder_holds(reference):
    """training.run on a finished folder resumes every fold and returns the pooled predictions it wrote."""
    out, rows = reference
    result = training.run(resolve([out / "config.toml"]), out)
    written = Predictions.read_csv(out / "predictions.csv", threshold=0.5)
    for column in ("case_ids", "patient_ids", "folds", "labels", "probs", "preds"):
        np.testing.assert_array_equal(getattr(result.predictions, column), getattr(written, column))
    assert [repr(float(p)) for p in result.predictions.probs] == [r["prob_malignant"] for r in rows]
    assert metrics_record(result.evaluation) == json.loads((out / "metrics.json").read_text())
    assert [m.any() for m in result.data.masks] == [True] * 24  # the synthetic set carries every lesion mask


def test_same_seed_same_predictions_other_seed_others(reference, tmp_path):
    _, rows = reference
    assert run(tmp_path / "again") == rows
    other = run(tmp_path / "seed1", "--seed", "1")
    assert [r["prob_malignant"] for r in other] != [r["prob_malignant"] for r in rows]


def test_resume_after_an_interruption_gives_identical_predictions(reference, tmp_path, monkeypatch):
    _, rows = reference
    real_save, calls = checkpoint.save_state, []

    def save_then_interrupt(*args, **kwargs):
        path = real_save(*args, **kwargs)
        calls.append(path.name)
        if len(calls) == 3:  # fold 1: epochs 1, 2; fold 2: epoch 1 is saved and we stop
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(checkpoint, "save_state", save_then_interrupt)
    out = tmp_path / "interrupted"
    # run.checkpoint_minutes = 0: a state after every epoch; Ctrl-C ends the command with exit 130 (femur_app.cli)
    assert main(["--out", str(out), *TINY, "--set", "run.checkpoint_minutes=0"]) == 130
    assert calls[-1] == "fold_02.state.npz" and not (out / "folds" / "fold_02.json").exists()
    monkeypatch.setattr(checkpoint, "save_state", real_save)
    assert run(out) == rows
    log = (out / "train.log").read_text()
    assert "fold 2: resumed after epoch 1 from fold_02.state.npz" in log
    assert log.count("fold 1 epoch 1/2") == 1  # fold 1 had finished and was not trained again


def test_resuming_with_another_configuration_is_refused(reference, tmp_path, capsys):
    out = tmp_path / "changed"
    out.mkdir()
    for name in ("run_folder.json", "config.toml", "fingerprint.json"):  # a run folder of ours, marked
        (out / name).write_text((reference[0] / name).read_text())
    assert main(["--out", str(out), *TINY, "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"error: {out}: holds a run with a different configuration (train.epochs: 2 -> 3)" in err


def test_joblib_workers_give_the_same_predictions(reference, tmp_path):
    assert run(tmp_path / "jobs2", "--jobs", "2") == reference[1]


def test_dask_cluster_gives_the_same_predictions(reference, tmp_path):
    """One thread per worker: two folds run side by side in one process share its BLAS limit and the fast tier's
    thread count, and their predictions then differ in the last digits now and then (run_folds warns)."""
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, host="127.0.0.1",
                                  protocol="tcp", dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert run(tmp_path / "dask", "--scheduler", cluster.scheduler_address) == reference[1]


def test_a_fold_survives_its_dask_worker_being_killed(reference, tmp_path):
    """Two worker processes; the one that first saves a fold's training state is killed (SIGKILL) there, mid-fold.
    The fold runs again on a worker, resumes from that state in the run folder, and the run's predictions equal
    the serial run's (issue 27, item 3)."""
    distributed = pytest.importorskip("dask.distributed")
    out, hold, paused = tmp_path / "killed", tmp_path / "hold", tmp_path / "paused"
    hold.touch()
    paused.mkdir()

    def pause_after_saving_a_state():
        """Run in each worker: after a state is saved, say so (a file named by the pid) and wait while ``hold``
        exists, so that the kill lands mid-fold. A worker started again later has the plain save_state."""
        real = checkpoint.save_state

        def save_then_wait(*args, **kwargs):
            path = real(*args, **kwargs)
            (paused / str(os.getpid())).touch()
            while hold.exists():
                time.sleep(0.02)
            return path

        checkpoint.save_state = save_then_wait

    killed = []

    def kill_the_first_paused_worker():
        while not killed:
            pids = [int(p.name) for p in paused.iterdir()]
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
                hold.unlink()
            time.sleep(0.02)

    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        workers = set(client.run(os.getpid).values())
        client.run(pause_after_saving_a_state)
        killer = threading.Thread(target=kill_the_first_paused_worker, daemon=True)
        killer.start()
        rows = run(out, "--scheduler", cluster.scheduler_address, "--set", "run.checkpoint_minutes=0")
        killer.join(timeout=1)
    assert killed and killed[0] in workers
    assert rows == reference[1]
    log = (out / "train.log").read_text()
    assert log.count(": resumed after epoch 1 from fold_0") == 1  # the killed fold, from its state of epoch 1


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's overflow warnings on the way to infinity
def test_divergence_stops_the_fold_and_keeps_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "diverged"
    rows = run(out, "--set", "train.lr=1e6")
    results = [json.loads((out / "folds" / f"fold_{k:02d}.json").read_text()) for k in (1, 2, 3)]
    for result in results:
        assert result["status"] == "diverged" and result["epochs_run"] == 1
        assert result["message"].startswith("diverged in epoch 2 (")
        assert "the last good checkpoint (after epoch 1" in result["message"]
    # the fold's model is the epoch-1 model, finite: what a run of one epoch at the same rate ends with
    run(tmp_path / "one_epoch", "--set", "train.lr=1e6", "--epochs", "1")
    model_state, _ = checkpoint.serialize.load(out / "checkpoints" / "fold_01.npz")
    epoch_1, _ = checkpoint.serialize.load(tmp_path / "one_epoch" / "checkpoints" / "fold_01.npz")
    assert all(np.isfinite(v).all() and np.array_equal(v, epoch_1[k]) for k, v in model_state.items())
    assert all(np.isfinite(float(r["prob_malignant"])) for r in rows)
    assert "Warning: diverged folds" in (out / "report.md").read_text()


def test_a_nan_loss_is_caught_on_its_batch(tmp_path, monkeypatch):
    real, calls = minicnn_step.softmax_cross_entropy, []

    def nan_on_third_call(logits, labels, class_weights=None):
        calls.append(1)
        loss, dlogits = real(logits, labels, class_weights)
        return (float("nan") if len(calls) == 3 else loss), dlogits

    monkeypatch.setattr(minicnn_step, "softmax_cross_entropy", nan_on_third_call)  # the loss minicnn.train_step takes
    monkeypatch.setattr(cross_validation, "estimate_seconds", lambda *args: (0.0, 0.0))  # only training calls the loss
    out = tmp_path / "nan"
    run(out)
    first = json.loads((out / "folds" / "fold_01.json").read_text())
    # 16 training cases = 1 batch per epoch: calls 1-2 are fold 1's two epochs, call 3 fold 2's first
    second = json.loads((out / "folds" / "fold_02.json").read_text())
    assert first["status"] == "finished"
    assert second["status"] == "diverged" and second["message"].startswith("diverged in epoch 1 (loss nan on batch 1)")
    assert second["epochs_run"] == 0  # predicted by the initial (epoch-0) checkpoint


def resolved(*argv):
    return train.resolve_config(train.parser().parse_args(list(argv)))


def test_config_errors_are_one_line_with_exit_status_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nlrr = 0.1\n")
    assert main(["--config", str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {bad}: unknown key 'train.lrr' (known here: train.epochs, train.batch_size, train.lr, " \
                  "train.momentum, train.nesterov, train.schedule, train.step_size, train.gamma, train.init, " \
                  "train.init_std)\n"
    assert main(["--set", "train.lr=inf", "--out", str(tmp_path / "y")]) == 2
    assert capsys.readouterr().err == "error: train.lr: got inf (expected a finite learning rate > 0, e.g. 0.01)\n"
    assert not (tmp_path / "y").exists()  # refused before anything was written
    with pytest.raises(ConfigError, match="train.lr: got inf"):  # --debug: the exception, with its traceback
        main(["--set", "train.lr=inf", "--out", str(tmp_path / "y"), "--debug"])


@pytest.mark.parametrize("assignment, message", [
    ("train.epochs=ten", "--set train.epochs=ten: 'train.epochs' must be of type int (like the default 67), got 'ten'"),
    ('train.schedule="linear"', "train.schedule: got 'linear' (expected one of ('constant', 'step', 'cosine'))"),
    ("augment.hflip=2.0", "augment: hflip = 2.0 (expected a probability 0..1)"),
    ("train.lr=nan", "train.lr: got nan (expected a finite learning rate > 0, e.g. 0.01)"),
    ("train.lr=-0.1", "train.lr: got -0.1 (expected a finite learning rate > 0, e.g. 0.01)"),
    ("train.batch_size=1", "train.batch_size: got 1 (expected 2 to 4096: batch norm needs two cases)"),
    ("model.dropout=1.0", "model.dropout: got 1.0 (expected a drop probability 0 <= p < 1)"),
    ("cv.threshold=1.0", "cv.threshold: got 1.0 (expected a probability strictly between 0 and 1)"),
    ('model.name="vgg"', "model.name: got 'vgg' (expected one of ['alexnet', 'alexnet_bn', 'googlenet'])"),
    ('model.l2_layers=["conv9"]', "model.l2_layers: got ['conv9'] (['conv9'] are not layers of alexnet_bn; expected "
                                  "some of ['conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'fc6', 'fc7', 'fc8'])"),
])
def test_each_invalid_value_is_named_with_what_was_expected(assignment, message):
    with pytest.raises(ConfigError) as error:
        resolved("--set", assignment)
    assert str(error.value) == message


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as error:
        resolved("--set", "train.lr=0", "--set", "cv.folds=1")
    assert str(error.value) == ("train.lr: got 0.0 (expected a finite learning rate > 0, e.g. 0.01); "
                                "cv.folds: got 1 (expected 2 to 100, and at most the patients of either class)")


def test_quick_profile_resolves_to_the_reduced_variant():
    config = resolved("--quick", "--epochs", "5")
    profile = (config.data.input_size, config.model.width, config.train.epochs, config.cv.folds)
    assert profile == (96, 0.25, 5, 10)
    assert config.model.name == "alexnet_bn" and config.train.lr == 0.005 and config.train.batch_size == 32


def test_cuda_without_a_gpu_fails_clearly(tmp_path, capsys):
    from minicnn import backend

    try:
        backend.cupy_module()
        pytest.skip("a GPU is available")
    except backend.GPUUnavailableError:
        pass
    assert main(["--out", str(tmp_path / "gpu"), *TINY, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: run.device cuda: no usable GPU: ") and "CuPy" in err and err.count("\n") == 1
    assert not (tmp_path / "gpu").exists()


def test_a_typo_in_the_test_data_fails_before_any_fold_trains(tmp_path, monkeypatch, capsys):
    """Validate first (issue 29, item 7): the test set is read and checked before the first fold."""
    trained = []
    monkeypatch.setattr(cross_validation, "run_folds", lambda *args: trained.append(args))
    missing = tmp_path / "tset"
    assert main([*TINY, "--test-data", str(missing), "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == f"error: {missing}: not found; expected a data folder\n"
    assert trained == [] and not (tmp_path / "run").exists()  # nothing left behind: no run folder was made
    assert main([*TINY, "--data", str(tmp_path / "TINY"), "--out", str(tmp_path / "run")]) == 2  # --data alike
    assert capsys.readouterr().err == f"error: {tmp_path / 'TINY'}: not found; expected a data folder\n"
    assert trained == [] and not (tmp_path / "run").exists()
