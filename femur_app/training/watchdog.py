"""A fold's worker process watches its parent, and ends when the parent is gone.

Folds trained in joblib workers (``run.jobs`` > 1) are separate processes. When the command is interrupted
(Ctrl-C, SIGTERM) it stops them itself (``femur_app.training.cross_validation.run_folds``), but a parent killed
with SIGKILL cannot: its workers would go on training and appending to ``train.log`` with nobody to read the
result. So each worker runs a daemon thread that polls ``os.getppid()`` twice a second; when the parent dies the
kernel gives the worker another parent, and the worker ends at once (``os._exit``: no cleanup runs that could
write a file). Its last atomic write either finished or left a ``.tmp`` file, which the next session removes.
"""
from __future__ import annotations

import os
import threading
import time

POLL_SECONDS = 0.5
ORPHANED = 70  # the worker's exit status when its parent is gone (EX_SOFTWARE); nobody is left to read it

_watched: int | None = None  # the parent this process watches already (a worker runs many folds)


def watch_parent(parent: int) -> None:
    """In a worker process of ``parent`` (its pid), start the watch once; in the parent itself, do nothing."""
    global _watched
    if os.getpid() == parent or _watched == parent:
        return
    _watched = parent
    threading.Thread(target=_watch, args=(parent,), name="watch-parent", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    os._exit(ORPHANED)
