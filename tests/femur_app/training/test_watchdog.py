"""Interrupts with real signals (issue 29, item 4) on a smoke run with two joblib workers (--jobs 2), as a user
or a scheduler sends them: Ctrl-C (SIGINT) and SIGTERM end the command with one line saying how to resume and
status 130 / 143, and stop its workers; after SIGKILL of the command its workers notice that their parent is gone
(femur_app.training.watchdog) and end within seconds; nothing writes train.log afterwards; and the interrupted
run resumes to the same predictions as an uninterrupted one."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from femur_app.training import watchdog
from femur_app.training.run_folder import AFTER_INTERRUPT

ROOT = Path(__file__).resolve().parents[3]
RUN = [sys.executable, "-m", "femur_app.train", "--quick", "--config", "femur_app/configs/smoke.toml", "--jobs", "2",
       "--epochs", "10", "--set", "cv.bootstrap=50", "--set", "run.checkpoint_minutes=0"]
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")


def children(pid: int) -> set[int]:
    """The pids of every living descendant of ``pid`` (from /proc; zombies count as gone)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if entry.name.isdigit() and fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if state[state.rindex(")") + 2] != "Z":
            living.add(pid)
    return living


def predictions(out) -> list[dict]:
    with open(out / "predictions.csv") as f:
        return list(csv.DictReader(f))


def ctrl_c_as_in_a_terminal():
    """SIGINT's default action in the child: a test run started in the background by a non-interactive shell
    (``pytest &``, as CI scripts may) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupted(out: Path, how: signal.Signals, *options: str):
    """Start the run, send ``how`` once both workers have trained an epoch -> (exit status, stderr, workers)."""
    process = subprocess.Popen([*RUN, "--out", str(out), *options], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_as_in_a_terminal)
    log = out / "train.log"
    deadline = time.monotonic() + 300
    # 10 epochs: after both folds' first, seconds of training are left for the signal to land in, even on a busy machine
    while not (log.exists() and "fold 1 epoch 1/" in log.read_text() and "fold 2 epoch 1/" in log.read_text()):
        assert process.poll() is None and time.monotonic() < deadline, "the run never reached its first epochs"
        time.sleep(0.1)
    workers = children(process.pid)
    assert (len(workers) >= 2 or options) and process.poll() is None, "the run ended before the signal could be sent"
    process.send_signal(how)
    _, err = process.communicate(timeout=120)
    return process.returncode, err, workers


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    subprocess.run([*RUN, "--out", str(out)], cwd=ROOT, check=True, capture_output=True, timeout=600)
    return predictions(out)


@pytest.mark.parametrize("how, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_stop_every_process_with_one_line(tmp_path, reference, how, status):
    out = tmp_path / "run"
    code, err, workers = interrupted(out, how)
    assert code == status, err
    # after the progress bar (cleared) the one line, and nothing else: no traceback, no warning of a worker's
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1] == f"interrupted by {how.name}: {AFTER_INTERRUPT}", err
    assert all(line.startswith("folds:") for line in lines[:-1]), err
    time.sleep(1)
    assert alive(workers) == set()
    size = (out / "train.log").stat().st_size
    time.sleep(2)
    assert (out / "train.log").stat().st_size == size  # nobody writes after the command is gone
    subprocess.run([*RUN, "--out", str(out)], cwd=ROOT, check=True, capture_output=True, timeout=600)
    assert predictions(out) == reference


def test_workers_end_within_seconds_of_their_parent_being_killed(tmp_path, reference):
    out = tmp_path / "run"
    code, _, workers = interrupted(out, signal.SIGKILL)
    assert code == -signal.SIGKILL
    deadline = time.monotonic() + 3 * watchdog.POLL_SECONDS + 5
    while alive(workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive(workers) == set()
    size = (out / "train.log").stat().st_size
    time.sleep(2)
    assert (out / "train.log").stat().st_size == size
    subprocess.run([*RUN, "--out", str(out)], cwd=ROOT, check=True, capture_output=True, timeout=600)
    assert predictions(out) == reference


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_the_folds_on_a_dask_cluster_stop_when_the_command_is_interrupted_or_killed(tmp_path, how):
    """A cluster's worker is not the command's process: the folds it trains stop at their next batch when the
    interrupted command sets its stop event, or when the scheduler lets go of their tasks because the command's
    client died (cross_validation._fold_on_worker). On a cluster an epoch of the smoke run takes milliseconds, so
    the folds get 5,000 epochs: unstopped, they would go on for minutes."""
    distributed = pytest.importorskip("dask.distributed")
    out = tmp_path / "run"
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        code, err, _ = interrupted(out, how, "--scheduler", cluster.scheduler_address, "--epochs", "5000")
        if how == signal.SIGINT:
            assert code == 130 and err.splitlines()[-1] == f"interrupted by SIGINT: {AFTER_INTERRUPT}", err
        deadline = time.monotonic() + 20
        while any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)
        size = (out / "train.log").stat().st_size
        time.sleep(2)
        assert (out / "train.log").stat().st_size == size  # the workers train no more
    log = (out / "train.log").read_text()
    assert "epoch 5000/5000" not in log and ": finished" not in log
    epochs = [int(line.split(" epoch ")[1].split("/")[0]) for line in log.splitlines() if " epoch " in line]
    assert max(epochs) < 4000


def test_the_watch_starts_only_in_a_worker(monkeypatch):
    started = []
    monkeypatch.setattr(watchdog.threading, "Thread", lambda **kwargs: started.append(kwargs) or NoThread())
    monkeypatch.setattr(watchdog, "_watched", None)
    watchdog.watch_parent(os.getpid())  # the command itself: no watch
    assert started == []
    watchdog.watch_parent(os.getppid())  # a worker of its parent: one watch, however many folds it runs
    watchdog.watch_parent(os.getppid())
    assert [kwargs["args"] for kwargs in started] == [(os.getppid(),)]


class NoThread:
    def start(self):
        pass
