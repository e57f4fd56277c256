"""A GPU or a Dask scheduler that cannot be used is one line and exit status 2, before the run folder is written
(femur_app/training/resources.py); a server that is not Dask is one line too (cross_validation.run_folds)."""
import dataclasses
import socket
import threading
import time

import pytest

from femur_app import train
from femur_app.config import resolve_options
from femur_app.errors import ConfigError
from femur_app.training.cross_validation import run_folds
from minicnn import backend

SMOKE = ["--config", "femur_app/configs/smoke.toml"]


def one_line(capsys, status) -> str:
    out, err = capsys.readouterr()
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err.removeprefix("error: ").rstrip("\n")


def test_cuda_without_a_usable_gpu_is_one_line_before_anything_is_written(tmp_path, capsys, monkeypatch):
    def no_gpu(name):
        raise backend.GPUUnavailableError("CuPy 13.0.0 is installed but cannot use a GPU (no CUDA device was found).")

    monkeypatch.setattr(backend, "use", no_gpu)
    line = one_line(capsys, train.main([*SMOKE, "--device", "cuda", "--out", str(tmp_path / "run")]))
    assert line == ("run.device cuda: no usable GPU: CuPy 13.0.0 is installed but cannot use a GPU (no CUDA device was "
                    "found). (expected a machine with an NVIDIA GPU and CuPy, or --device cpu)")
    assert not (tmp_path / "run").exists()


def closed_port() -> int:
    """A port of this machine on which nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_scheduler_nobody_listens_on_fails_fast_in_one_line(tmp_path, capsys):
    address = f"tcp://127.0.0.1:{closed_port()}"
    started = time.perf_counter()
    line = one_line(capsys, train.main([*SMOKE, "--scheduler", address, "--out", str(tmp_path / "run")]))
    assert time.perf_counter() - started < 5  # Dask alone waited 30 s, after loading the data
    assert line == (f"run.scheduler {address}: no Dask scheduler answers (Connection refused) (expected the address of "
                    "a running scheduler, e.g. tcp://127.0.0.1:8786)")
    assert not (tmp_path / "run").exists()


def test_a_server_that_is_not_dask_is_one_line(tmp_path):
    """It accepts the connection (so the early check passes) and answers bytes that Dask reads as a frame length of
    exabytes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer():
        connection, _ = server.accept()
        with connection:
            connection.sendall(b"\xff" * 64)
            time.sleep(1)

    threading.Thread(target=answer, daemon=True).start()
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    config = resolve_options(config_file="femur_app/configs/smoke.toml")
    config = dataclasses.replace(config, run=dataclasses.replace(config.run, scheduler=address))
    with pytest.raises(ConfigError, match=f"^run.scheduler {address}: no Dask scheduler answered \\("):
        run_folds([1], None, None, config, tmp_path)
    server.close()
