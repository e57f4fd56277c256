"""The two kinds of checkpoint a run writes, both pickle-free ``.npz`` files through ``minicnn.serialize``.

* A **model checkpoint** (``checkpoints/fold_03.npz``): the trained fold's parameters and batch-norm buffers,
  with metadata that is all a later prediction needs - the architecture's registry name and keyword
  arguments, the input size, the normalisation statistics of the training fold, the decision threshold and
  the class names. ``load_model`` rebuilds the network from them; ``load`` gives it as a ``FoldModel``
  (``femur_app.models.fold_model``), the one value every consumer of a trained model takes.
* A **training state** (``checkpoints/fold_03.state.npz``): what resuming an interrupted fold needs - the
  model, the optimiser's momentum buffers and learning rate (arrays ``model.*`` and ``optim.*``), the number
  of finished epochs, the learning-curve history, and the state of every random generator (its
  ``bit_generator.state`` dict, JSON in the metadata), and the identity of the fold it belongs to (``run``,
  ``fold``): ``load_state`` refuses a state of another fold or run. The run writes it at most every
  ``run.checkpoint_minutes`` and after a fold's last epoch (``femur_app.training.fold``).

Both are written atomically (``minicnn.serialize``), so an interruption leaves either the old file or the new
one. A file that is not a model checkpoint, or does not fit its architecture (every array's name and shape, and
float32 or float64: an int8, bool, complex or text array is never cast), is a ``DataError`` naming it;
so is a model checkpoint whose metadata are out of bounds (``check_metadata``: checked before any network is
built, so a declared ``input_size`` of 20000 allocates nothing) or whose weights are not finite.
"""
from __future__ import annotations

import numpy as np

from femur_app import memory
from femur_app.data.normalise import Normalisation
from femur_app.data.preprocess import ROIS
from femur_app.errors import DataError
from femur_app.models.fold_model import FoldModel
from femur_app.models.footprint import footprint
from femur_app.models.registry import MAX_INPUT_SIZE, MODELS, ModelConfig, build_model, input_size_problem
from minicnn import serialize
from minicnn.backend import to_cpu
from minicnn.layers import Dropout

CLASS_NAMES = ["benign", "malignant"]
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # what a checkpoint's arrays may hold
FORMAT = "femur_app.model/1"


def save_model(path, model, *, architecture: str, model_kwargs: dict, input_size: int,
               normalisation: Normalisation, threshold: float, extra: dict | None = None):
    """Write a model checkpoint with the training fold's input ``normalisation``."""
    metadata = {"format": FORMAT, "architecture": architecture, "model_kwargs": model_kwargs,
                "input_size": input_size, "normalisation": normalisation.to_dict(),
                "threshold": threshold, "class_names": CLASS_NAMES, **(extra or {})}
    return serialize.save(path, _host_state(model.state_dict()), metadata)


MAX_CHANNELS = 4


class ZeroWeights:
    """What a network is built with when a checkpoint's weights are about to replace its starting weights.

    The layers draw their starting weights with ``rng.normal(0, std, size)`` (``minicnn.layers.Conv2d``,
    ``Linear``); this answers every such call with float32 zeros, which the layers keep without a copy, so building
    the network costs no random draws (for the paper's 58-million-parameter AlexNet-BN the draws took about 2.0 s of
    the 2.3-2.6 s that loading its checkpoint took). It is not a random generator: ``load_model`` gives each dropout
    layer a real one (``numpy.random.default_rng(0)``) once the network is built."""

    def normal(self, loc=0.0, scale=1.0, size=None):
        return np.zeros(size, dtype=np.float32)


def load_model(path, follow_symlinks: bool = True):
    """Rebuild the network of a model checkpoint -> (model, metadata); DataError naming ``path`` for anything
    unusable: an unreadable file, metadata out of bounds (``check_metadata``), weights that do not fit the
    architecture or are not finite. ``follow_symlinks=False`` (a run folder's own file): a link is refused."""
    def arrays_allowed(metadata) -> int:
        """The metadata checked before any array is read; the bytes the network they describe can hold (its
        parameters and buffers in float64, the widest dtype allowed, plus 1 MiB of .npy headers)."""
        check_metadata(path, metadata)
        size = footprint(metadata["architecture"], width=metadata["model_kwargs"].get("width", 1.0),
                         input_size=metadata["input_size"], in_channels=len(metadata["normalisation"]["mean"]))
        return 8 * (size.parameters + size.buffers) + 2**20

    try:
        state, metadata = serialize.load(path, metadata_first=arrays_allowed, follow_symlinks=follow_symlinks)
    except DataError:
        raise
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: unreadable model checkpoint ({error})") from error
    check_float_arrays(path, state, "(expected the float32 or float64 weights of a trained model)")
    in_channels = len(metadata["normalisation"]["mean"])
    try:
        model = build_model(metadata["architecture"], rng=ZeroWeights(), in_channels=in_channels,
                            num_classes=len(metadata["class_names"]), input_size=metadata["input_size"],
                            **metadata["model_kwargs"])
        for _, layer in model.named_layers():
            if isinstance(layer, Dropout):
                layer.rng = np.random.default_rng(0)  # its masks, should the loaded model be trained further
        model.load_state_dict(state)
    except (ValueError, TypeError, KeyError) as error:
        raise DataError(f"{path}: {error} (expected the weights of the architecture its metadata name)") from error
    bad = [name for name, value in model.state_dict().items() if not np.isfinite(value).all()]
    if bad:
        raise DataError(f"{path}: non-finite values (NaN or inf) in {', '.join(bad[:5])} (expected the finite "
                        "weights of a trained model)")
    return model, metadata


def load(path, follow_symlinks: bool = True) -> FoldModel:
    """A model checkpoint as a ``FoldModel``: the network with its normalisation, threshold, fold, input size and
    preprocessing (read and checked by ``load_model``)."""
    return as_fold_model(*load_model(path, follow_symlinks))


def as_fold_model(model, metadata: dict) -> FoldModel:
    """A network and its checked checkpoint metadata (``load_model``'s pair) as a ``FoldModel``."""
    return FoldModel(model, Normalisation.from_dict(metadata["normalisation"]), float(metadata["threshold"]),
                     metadata.get("fold"), metadata["architecture"], metadata["input_size"],
                     metadata.get("preprocess", {}), metadata.get("operating_threshold"), metadata["model_kwargs"])


def check_metadata(path, metadata) -> None:
    """DataError naming ``path`` and the key unless a model checkpoint's metadata are a JSON object in bounds:
    the format, a registered architecture, an input_size that architecture takes (``registry.input_size_problem``),
    model_kwargs that the configuration accepts (``femur_app.models.registry.ModelConfig``: a width up to
    MAX_WIDTH, ...), a threshold strictly between 0 and 1, an operating threshold (if any) from 0 to 1, two class
    names, finite normalisation statistics with std > 0 for 1 to MAX_CHANNELS channels; and a network whose
    estimated memory (``femur_app.models.footprint``) fits the budget (``femur_app.memory``)."""
    def refuse(key, value, expected):
        raise DataError(f"{path}: metadata {key} is {value!r} (expected {expected})")

    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        found = metadata.get("format") if isinstance(metadata, dict) else metadata
        raise DataError(f"{path}: not a femur_app model checkpoint (metadata format {found!r}, expected {FORMAT!r})")
    if metadata.get("architecture") not in MODELS:
        refuse("architecture", metadata.get("architecture"), f"one of {sorted(MODELS)}")
    size = metadata.get("input_size")
    if type(size) is not int or not 1 <= size <= MAX_INPUT_SIZE:
        refuse("input_size", size, f"an integer from 1 to {MAX_INPUT_SIZE} pixels")
    if wrong := input_size_problem(metadata["architecture"], size):
        refuse("input_size", size, wrong)
    kwargs = metadata.get("model_kwargs")
    if not isinstance(kwargs, dict):
        refuse("model_kwargs", kwargs, "a JSON object of the model builder's arguments")
    known = [name for name in ModelConfig.__dataclass_fields__ if name != "name"]  # ModelConfig.builder_kwargs()
    if set(kwargs) - set(known):
        refuse("model_kwargs", kwargs, f"only the keys {known}")
    try:
        neutral = {"width": 1.0, "dropout": 0.0, "l2": 0.0, "l2_layers": []}  # what an absent key is checked as
        problems = ModelConfig(name=metadata["architecture"], **{**neutral, **kwargs}).problems()
    except TypeError as error:
        problems = [str(error)]
    if problems:
        refuse("model_kwargs", kwargs, "; ".join(problems))
    threshold = metadata.get("threshold")
    if type(threshold) not in (int, float) or not 0 < threshold < 1:
        refuse("threshold", threshold, "a number strictly between 0 and 1")
    operating = metadata.get("operating_threshold")
    if operating is not None and (type(operating) not in (int, float) or not 0 <= operating <= 1):
        refuse("operating_threshold", operating, "absent, or a probability from 0 to 1")
    if metadata.get("class_names") != CLASS_NAMES:
        refuse("class_names", metadata.get("class_names"), CLASS_NAMES)
    norm = metadata.get("normalisation")
    try:
        mean, std = np.asarray(norm["mean"], np.float64), np.asarray(norm["std"], np.float64)
        valid = mean.ndim == 1 and mean.shape == std.shape and 1 <= len(mean) <= MAX_CHANNELS
        valid = valid and bool(np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all())
    except (TypeError, KeyError, ValueError, IndexError):
        valid = False
    if not valid:
        refuse("normalisation", norm, f"finite mean and std > 0 for 1 to {MAX_CHANNELS} channels")
    need = footprint(metadata["architecture"], width=kwargs.get("width", 1.0), input_size=size,
                     in_channels=len(mean)).inference_bytes()
    memory.check(need, f"{path}: metadata model_kwargs {kwargs} and input_size {size}", DataError)
    preprocess = metadata.get("preprocess", {})
    if (not isinstance(preprocess, dict) or set(preprocess) - {"margin", "polarity", "radius", "roi"}
            or preprocess.get("roi", "otsu") not in ROIS):
        refuse("preprocess", preprocess, f"a JSON object with some of margin, polarity, radius, roi (one of {ROIS})")


def save_state(path, model, optimizer, rngs: dict, epoch: int, history: list[dict], identity: dict | None = None):
    """Write a training state after ``epoch`` finished epochs (``rngs``: name -> numpy Generator); ``identity``
    (e.g. ``{"run": ..., "fold": 3}``) is recorded for ``load_state`` to check."""
    arrays = {f"model.{k}": v for k, v in model.state_dict().items()}
    arrays.update({f"optim.{k}": v for k, v in optimizer.state_dict().items()})
    metadata = {"epoch": epoch, "history": history,
                "rng": {name: rng.bit_generator.state for name, rng in rngs.items()}, **(identity or {})}
    return serialize.save(path, _host_state(arrays), metadata)


def load_state(path, model, optimizer, rngs: dict, identity: dict | None = None) -> tuple[int, list[dict]]:
    """Restore a training state into ``model``, ``optimizer`` and the generators -> (epoch, history).

    DataError naming ``path`` when the file is unreadable, is a symbolic link (a state is always a run folder's
    own file), was written with another ``identity`` (another fold or run), or does not fit the model."""
    redo = f"(expected {'this fold' if identity is None else 'fold ' + str(identity.get('fold'))}'s own training " \
           "state; delete the file to train the fold from its start)"
    try:
        arrays, metadata = serialize.load(path, follow_symlinks=False)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: unreadable training state ({error}) {redo}") from error
    metadata = metadata or {}
    if identity is not None:
        found = {key: metadata.get(key) for key in identity}
        if found != identity:
            raise DataError(f"{path}: is the training state of {_describe(found)}, not of {_describe(identity)} "
                            f"{redo}")
    check_float_arrays(path, arrays, redo)
    missing = sorted(set(rngs) - set(metadata.get("rng", {})))
    if missing or "epoch" not in metadata:
        raise DataError(f"{path}: no saved epoch or state of the random generators {missing} {redo}")
    try:
        model.load_state_dict({k[len("model."):]: v for k, v in arrays.items() if k.startswith("model.")})
        optimizer.load_state_dict({k[len("optim."):]: v for k, v in arrays.items() if k.startswith("optim.")})
    except (ValueError, KeyError) as error:
        raise DataError(f"{path}: {error} {redo}") from error
    for name, rng in rngs.items():
        rng.bit_generator.state = metadata["rng"][name]
    return metadata["epoch"], metadata["history"]


def check_float_arrays(path, arrays: dict, expected: str) -> None:
    """DataError naming ``path`` and the first arrays that are not float32 or float64: loading casts every array to
    the network's float32, so int8, bool, complex or text arrays would otherwise become weights without a word."""
    bad = [f"{name} ({array.dtype})" for name, array in arrays.items() if array.dtype not in FLOAT_DTYPES]
    if bad:
        raise DataError(f"{path}: array {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''} is not float32 or "
                        f"float64 {expected}")


def _describe(identity: dict) -> str:
    return ", ".join(f"{key} {value}" for key, value in identity.items())


def _host_state(state: dict) -> dict:
    return {name: to_cpu(value) if hasattr(value, "shape") else np.asarray(value) for name, value in state.items()}
