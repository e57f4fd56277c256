"""Save and load arrays as ``.npz`` - no pickle in either direction, so loading a file never runs its code.

A file holds one array per parameter/buffer (``conv1.weight``, ``3.running_mean`` ...) and, optionally, a JSON
metadata string under the reserved key ``__metadata__``. Writes are atomic: a temporary file in the same folder
is renamed over the target, so an interrupted save never leaves a half-written file.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

METADATA_KEY = "__metadata__"


def _to_numpy(array):
    return array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else np.asarray(array)


def save(path, state: dict, metadata: dict | None = None) -> Path:
    """Write ``state`` (name -> array) and JSON-serialisable ``metadata`` to ``path`` atomically."""
    path = Path(path)
    arrays = {name: _to_numpy(value) for name, value in state.items()}
    if METADATA_KEY in arrays:
        raise ValueError(f"save: {METADATA_KEY!r} is reserved for metadata")
    for name, value in arrays.items():
        if value.dtype == object:
            raise TypeError(f"save: {name!r} is an object array, which cannot be stored without pickle")
    if metadata is not None:
        arrays[METADATA_KEY] = np.array(json.dumps(metadata))
    with write_atomic(path) as f:
        np.savez(f, **arrays)
    return path


@contextlib.contextmanager
def write_atomic(path):
    """Open ``path`` for writing (binary) so that it appears whole or not at all: the project's one atomic write.

    The bytes go to a temporary file in the same folder (``.NAME.*.tmp``), which is flushed to disk and then
    renamed over ``path`` when the ``with`` block ends without an error; on an error the temporary file is
    removed and ``path`` keeps its old content. Use ``write_text_atomic`` / ``write_bytes_atomic`` for the
    one-call cases, and this context manager for writers that want a file object (``np.savez``, ``savefig``)::

        with write_atomic("out/figure.png") as f:
            figure.savefig(f, format="png")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see ``write_atomic``)."""
    with write_atomic(path) as f:
        f.write(data)
    return Path(path)


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see ``write_atomic``)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def load(path) -> tuple[dict, dict | None]:
    """Read a file written by ``save`` -> (state, metadata). Never unpickles; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            state = {name: data[name] for name in data.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"{path}: not a readable minicnn .npz file ({err})") from err
    metadata = state.pop(METADATA_KEY, None)
    return state, (None if metadata is None else json.loads(str(metadata)))


def save_model(model, path, metadata: dict | None = None) -> Path:
    """Save a model's parameters and buffers (its ``state_dict``) with optional metadata."""
    return save(path, model.state_dict(), metadata)


def load_model(model, path) -> dict | None:
    """Load parameters and buffers into ``model``; a shape mismatch names the layer and both shapes."""
    state, metadata = load(path)
    try:
        model.load_state_dict(state)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    return metadata
