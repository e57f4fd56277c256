"""The two kinds of checkpoint a run writes, both pickle-free ``.npz`` files through ``minicnn.serialize``.

* A **model checkpoint** (``checkpoints/fold_03.npz``): the trained fold's parameters and batch-norm buffers,
  with metadata that is all a later prediction needs - the architecture's registry name and keyword
  arguments, the input size, the normalisation statistics of the training fold, the decision threshold and
  the class names. ``load_model`` rebuilds the network from them.
* A **training state** (``checkpoints/fold_03.state.npz``): what resuming an interrupted fold needs - the
  model, the optimiser's momentum buffers and learning rate (arrays ``model.*`` and ``optim.*``), the number
  of finished epochs, the learning-curve history, and the state of every random generator (its
  ``bit_generator.state`` dict, JSON in the metadata). It is rewritten after every good epoch, so it is
  always the last good checkpoint.

Both are written atomically (``minicnn.serialize``), so an interruption leaves either the old file or the new
one. A file that is not a model checkpoint, or does not fit its architecture, is a ``DataError`` naming it.
"""
from __future__ import annotations

import numpy as np

from femur_app.data.normalise import Normalisation
from femur_app.errors import DataError
from femur_app.models.registry import MODELS, build_model
from minicnn import serialize
from minicnn.backend import to_cpu

CLASS_NAMES = ["benign", "malignant"]
FORMAT = "femur_app.model/1"


def save_model(path, model, *, architecture: str, model_kwargs: dict, input_size: int,
               normalisation: Normalisation, threshold: float, extra: dict | None = None):
    """Write a model checkpoint with the training fold's input ``normalisation``."""
    metadata = {"format": FORMAT, "architecture": architecture, "model_kwargs": model_kwargs,
                "input_size": input_size, "normalisation": normalisation.to_dict(),
                "threshold": threshold, "class_names": CLASS_NAMES, **(extra or {})}
    return serialize.save(path, _host_state(model.state_dict()), metadata)


def load_model(path):
    """Rebuild the network of a model checkpoint -> (model, metadata)."""
    try:
        state, metadata = serialize.load(path)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: unreadable model checkpoint ({error})") from error
    if not metadata or metadata.get("format") != FORMAT:
        found = metadata.get("format") if metadata else None
        raise DataError(f"{path}: not a femur_app model checkpoint (metadata format {found!r}, "
                        f"expected {FORMAT!r})")
    if metadata.get("architecture") not in MODELS:
        raise DataError(f"{path}: unknown architecture {metadata.get('architecture')!r} "
                        f"(expected one of {sorted(MODELS)})")
    in_channels = len(metadata["normalisation"]["mean"])
    model = build_model(metadata["architecture"], rng=np.random.default_rng(0), in_channels=in_channels,
                        num_classes=len(metadata["class_names"]), input_size=metadata["input_size"],
                        **metadata["model_kwargs"])
    try:
        model.load_state_dict(state)
    except ValueError as error:
        raise DataError(f"{path}: {error}") from error
    return model, metadata


def save_state(path, model, optimizer, rngs: dict, epoch: int, history: list[dict]):
    """Write a training state after ``epoch`` finished epochs (``rngs``: name -> numpy Generator)."""
    arrays = {f"model.{k}": v for k, v in model.state_dict().items()}
    arrays.update({f"optim.{k}": v for k, v in optimizer.state_dict().items()})
    metadata = {"epoch": epoch, "history": history,
                "rng": {name: rng.bit_generator.state for name, rng in rngs.items()}}
    return serialize.save(path, _host_state(arrays), metadata)


def load_state(path, model, optimizer, rngs: dict) -> tuple[int, list[dict]]:
    """Restore a training state into ``model``, ``optimizer`` and the generators -> (epoch, history)."""
    arrays, metadata = serialize.load(path)
    model.load_state_dict({k[len("model."):]: v for k, v in arrays.items() if k.startswith("model.")})
    optimizer.load_state_dict({k[len("optim."):]: v for k, v in arrays.items() if k.startswith("optim.")})
    missing = sorted(set(rngs) - set(metadata["rng"]))
    if missing:
        raise ValueError(f"{path}: no saved state for the random generators {missing}")
    for name, rng in rngs.items():
        rng.bit_generator.state = metadata["rng"][name]
    return metadata["epoch"], metadata["history"]


def _host_state(state: dict) -> dict:
    return {name: to_cpu(value) if hasattr(value, "shape") else np.asarray(value) for name, value in state.items()}
