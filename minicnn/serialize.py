"""Save and load arrays as ``.npz`` - no pickle in either direction, so loading a file never runs its code.

A file holds one array per parameter/buffer (``conv1.weight``, ``3.running_mean`` ...) and, optionally, a JSON
metadata string under the reserved key ``__metadata__``. Writes are atomic: a temporary file in the same folder
is renamed over the target, so an interrupted save never leaves a half-written file.
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

METADATA_KEY = "__metadata__"
MAX_NPZ_BYTES = 2 * 2**30  # 4 times the largest file the project writes (an AlexNet-BN training state, ~0.5 GB)
MAX_NPZ_MEMBERS = 10_000


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
    removed and ``path`` keeps its old content; an ``OSError`` of the write itself (a full disk) is raised with
    ``path`` as its ``filename``. Use ``write_text_atomic`` / ``write_bytes_atomic`` for the
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
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        if error.filename is not None:
            raise
        # a write's own error (ENOSPC, EIO) names no file: name the one being written
        raise type(error)(error.errno, error.strerror or str(error), str(path)) from error
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


def load(path, *, max_bytes: int | None = None, max_members: int | None = None,
         metadata_first=None, follow_symlinks: bool = True) -> tuple[dict, dict | None]:
    """Read a file written by ``save`` -> (state, metadata). Never unpickles; every error names the file.

    Nothing is decompressed before the zip directory has been checked: at most ``max_members`` members
    (default ``MAX_NPZ_MEMBERS``), each a ``.npy`` array whose header's shape x itemsize fills exactly the
    member's declared size, and declared sizes adding up to at most ``max_bytes`` (default ``MAX_NPZ_BYTES``).
    The zip reader never yields more than a member's declared size, so a zip bomb is refused from its
    directory, and no array is allocated larger than the bytes that were checked.

    ``metadata_first(metadata)``, if given, is called with the metadata (or None) before any array is read: it
    raises to refuse the file (its exception is raised as it is), or returns the most bytes the arrays may declare
    (None: no limit beyond ``max_bytes``), so that a file whose metadata describe a small network but whose arrays
    are large is refused without reading them.

    ``follow_symlinks=False``: a symbolic link at ``path`` is refused as the file is opened (``O_NOFOLLOW``), not
    by a check before it that a link swapped in afterwards would escape.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    refused = None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW))
    except OSError as err:
        if err.errno == errno.ELOOP and not follow_symlinks:
            raise ValueError(f"{path}: is a symbolic link (expected the file itself: follow_symlinks=False)") from None
        raise
    try:
        with open(fd, "rb") as file, zipfile.ZipFile(file) as archive:
            members = _checked_members(archive, max_bytes, max_members)
            metadata = None
            if METADATA_KEY in members:
                with archive.open(members.pop(METADATA_KEY)) as member:
                    metadata = _metadata(np.lib.format.read_array(member, allow_pickle=False))
            limit = None
            if metadata_first is not None:
                try:
                    limit = metadata_first(metadata)
                except Exception as error:  # the caller's refusal: raised below as it is, not as a damaged file
                    refused = error
            declared = sum(info.file_size for info in members.values())
            if refused is None and limit is not None and declared > limit:
                raise ValueError(f"its arrays declare {declared:,} bytes; the network its metadata describe "
                                 f"holds at most {limit:,}")
            state = {}
            for name, info in members.items() if refused is None else ():
                with archive.open(info) as member:
                    state[name] = np.lib.format.read_array(member, allow_pickle=False)
    except ValueError as err:
        raise ValueError(f"{path}: not a readable minicnn .npz file ({err})") from err
    except (OSError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
            struct.error, OverflowError) as err:  # what a damaged zip raises, besides ValueError
        raise ValueError(f"{path}: not a readable minicnn .npz file ({type(err).__name__}: {err})") from err
    if refused is not None:
        raise refused
    return state, metadata


def _checked_members(archive: zipfile.ZipFile, max_bytes, max_members) -> dict:
    """name -> ZipInfo of every array, after checking the directory and each ``.npy`` header (see ``load``);
    ValueError says what is wrong, ``load`` adds the file."""
    max_bytes = MAX_NPZ_BYTES if max_bytes is None else max_bytes
    max_members = MAX_NPZ_MEMBERS if max_members is None else max_members
    infos = archive.infolist()
    if len(infos) > max_members:
        raise ValueError(f"holds {len(infos):,} members; expected at most {max_members:,} arrays "
                         "(max_members)")
    total = sum(info.file_size for info in infos)
    if total > max_bytes:
        raise ValueError(f"its members declare {total:,} bytes uncompressed; expected at most {max_bytes:,} "
                         "(max_bytes; a zip bomb, or a file too large for this reader)")
    members = {}
    for info in infos:
        if not info.filename.endswith(".npy") or info.is_dir():
            raise ValueError(f"member {info.filename!r} is not a .npy array; expected only arrays")
        name = info.filename[: -len(".npy")]
        if name in members:
            raise ValueError(f"member {info.filename!r} appears twice; expected each array once")
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"member {info.filename!r} has .npy format version {version}; expected "
                                 "1.0 or 2.0")
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _fortran_order, dtype = read_header(member)
            header_bytes = member.tell()
        if dtype.hasobject:
            raise ValueError(f"member {info.filename!r} holds Python objects, which would need pickle; "
                             "expected plain numeric or string arrays")
        data_bytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow, whatever the header claims
        if header_bytes + data_bytes != info.file_size:
            raise ValueError(f"member {info.filename!r} declares shape {shape} of {dtype} ({data_bytes:,} "
                             f"bytes) but holds {info.file_size - header_bytes:,}; expected the two to agree")
        members[name] = info
    return members


def _metadata(stored: np.ndarray) -> dict:
    """The JSON object stored under ``__metadata__``; ValueError otherwise."""
    if stored.shape != () or stored.dtype.kind != "U":
        raise ValueError(f"{METADATA_KEY} is a {stored.dtype} array of shape {stored.shape}; expected one "
                         "JSON string")
    try:
        metadata = json.loads(str(stored))
    except ValueError as err:
        raise ValueError(f"{METADATA_KEY} is not valid JSON ({err})") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{METADATA_KEY} is a JSON {type(metadata).__name__}; expected a JSON object")
    return metadata


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
