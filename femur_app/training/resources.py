"""The device and the cluster a run's ``[run]`` section names, checked before the run reads or writes anything.

``run.device = "cuda"`` needs CuPy and a GPU it can use; ``run.scheduler`` needs a Dask scheduler that answers.
Without this check the first would end in a CuPy traceback once the run folder was prepared, and the second in
Dask's own timeout (30 s) once the data were loaded and the training time measured. Here each is one line, a
``ConfigError`` naming the key: the GPU is asked for at once, and the scheduler's address is connected to with a
``SCHEDULER_TIMEOUT`` of a few seconds - an address nobody listens on is refused as soon as the connection is.
"""
from __future__ import annotations

import socket

from femur_app.config import SCHEDULER_ADDRESS, RunConfig
from femur_app.errors import ConfigError
from minicnn import backend

SCHEDULER_TIMEOUT = 5.0  # seconds to connect to a Dask scheduler (Dask's own default is 30)


def check_run_settings(settings: RunConfig) -> None:
    """ConfigError naming ``run.device`` or ``run.scheduler`` when that device or cluster cannot be used."""
    if settings.device == "cuda":
        try:
            backend.use("cupy")
        except backend.GPUUnavailableError as error:
            raise ConfigError(f"run.device cuda: no usable GPU: {error} (expected a machine with an NVIDIA GPU and "
                              "CuPy, or --device cpu)") from None
    if settings.scheduler:
        check_scheduler(settings.scheduler)


def check_scheduler(address: str, timeout: float = SCHEDULER_TIMEOUT) -> None:
    """ConfigError unless a TCP connection to the scheduler's host and port opens within ``timeout`` seconds
    (``address`` has the form the configuration checked, ``femur_app.config.SCHEDULER_ADDRESS``)."""
    host, port = SCHEDULER_ADDRESS.fullmatch(address).groups()
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as error:  # refused, unreachable, unknown host, timed out
        reason = f"no answer within {timeout:g} s" if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise ConfigError(f"run.scheduler {address}: no Dask scheduler answers ({reason}) (expected the address of "
                          "a running scheduler, e.g. tcp://127.0.0.1:8786)") from None
