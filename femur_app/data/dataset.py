"""The case record every data source produces, and the on-disk cache of preprocessed arrays.

A ``Case`` is one MRI slice of one patient with its label and, when known, the lesion annotation. The
synthetic generator and the folder loaders both return lists of them; the trainer only ever sees
``prepare``'s output, a ``Prepared``: every case preprocessed (``femur_app.data.preprocess``) into one float32
stack, with what later steps need beside it (ids, labels, lesion masks in the ROI's coordinates), so that no
step reads the images again.

Preprocessing 500 slices takes a while, so the stack is cached as a plain ``.npz`` (loaded with
``allow_pickle=False``: a cache file can never run code). The cache key is a BLAKE2 digest of everything
the result depends on: each case's pixels, shape, dtype, box, label and ids, the preprocessing parameters and
``PREPROCESS_VERSION``. Change any of them and a new file is written; nothing stale is ever read back.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from femur_app.data.image_hash import average_hash
from femur_app.data.preprocess import PREPROCESS_VERSION, preprocess, roi_mask
from femur_app.errors import DataError
from minicnn import serialize
from minicnn.serialize import write_atomic

BENIGN, MALIGNANT = 0, 1
LABEL_NAMES = {BENIGN: "benign", MALIGNANT: "malignant"}


@dataclass
class Case:
    """One MRI slice with its diagnosis.

    ``label``: 1 = malignant (the positive class), 0 = benign. ``image``: 2-D raw intensities, H x W,
    uint16 (integer PNG/TIFF/DICOM pixels and the synthetic set) or float32 (signed or rescaled DICOM, float
    TIFF). ``box``: the lesion rectangle ``(x0, y0, x1, y1)`` in pixels, x = column, y = row, x1 and y1
    exclusive. ``mask``: a bool H x W lesion mask when one is known. ``source``: the file path, or
    ``"synthetic"``. ``spacing_mm``: the pixel size in millimetres when the source states it.
    """

    case_id: str
    patient_id: str
    label: int
    image: np.ndarray
    box: tuple[int, int, int, int] | None
    mask: np.ndarray | None
    source: str
    spacing_mm: float | None = None


def box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1), x1 and y1 exclusive, of the True pixels of a non-empty mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def default_cache_dir() -> Path:
    """``$FEMUR_APP_CACHE`` if set, else ``~/.cache/femur_app``."""
    return Path(os.environ.get("FEMUR_APP_CACHE") or Path.home() / ".cache" / "femur_app")


def fingerprint(cases, **params) -> str:
    """Hex digest of the cases' pixels, boxes, labels and ids plus the given parameters."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr(sorted(params.items())).encode())
    for case in cases:
        image = np.ascontiguousarray(case.image)
        record = (case.case_id, case.patient_id, case.label, case.box, image.shape, image.dtype.str)
        digest.update(repr(record).encode())
        digest.update(image.data)
    return digest.hexdigest()


def _preprocess_one(case: Case, size: int, margin: int, roi: str = "otsu") -> np.ndarray:
    return preprocess(case.image, case.box, size=size, margin=margin, roi=roi, mask=case.mask).image


def read_cache(path: Path, cases: list, size: int):
    """The cached ``(X, y, patient_ids, case_ids)`` when ``path`` holds exactly what ``cases`` give, else None.

    The file is read by ``minicnn.serialize.load`` (no pickle; its zip directory is checked first and may
    declare no more bytes than the N ROIs of size x size and the ids need). It must hold X, float32
    (N, 1, size, size) and finite, and y, patient_ids and case_ids equal to the cases' own. Anything else - a
    damaged file, foreign arrays, flipped labels - is logged as a warning naming the file and what is wrong,
    and None makes the caller preprocess again and rewrite the file: a cache is never an error, nor trusted.
    """
    n = len(cases)
    labels = np.array([case.label for case in cases], dtype=np.int64)
    ids = {"patient_ids": [case.patient_id for case in cases], "case_ids": [case.case_id for case in cases]}
    id_bytes = sum(4 * n * max([len(i) for i in column], default=1) for column in ids.values())
    try:
        arrays, _ = serialize.load(path, max_bytes=4 * n * size * size + 8 * n + id_bytes + 4096, max_members=4)
        X = arrays.get("X")
        if sorted(arrays) != ["X", "case_ids", "patient_ids", "y"]:
            raise ValueError(f"{path}: holds arrays {sorted(arrays)}; expected X, y, patient_ids, case_ids")
        if X.dtype != np.float32 or X.shape != (n, 1, size, size) or not np.isfinite(X).all():
            raise ValueError(f"{path}: X is {X.dtype} {X.shape}; expected finite float32 {(n, 1, size, size)}")
        if arrays["y"].dtype != np.int64 or not np.array_equal(arrays["y"], labels):
            raise ValueError(f"{path}: its labels y differ from the cases' labels")
        for name, expected in ids.items():
            if arrays[name].dtype.kind != "U" or arrays[name].tolist() != expected:
                raise ValueError(f"{path}: its {name} differ from the cases' own")
    except ValueError as error:
        logging.getLogger("femur_app.data").warning("unusable prepared-data cache %s; preprocessing again and "
                                                   "rewriting it", error)
        return None
    return X, arrays["y"], arrays["patient_ids"], arrays["case_ids"]


def prepare_arrays(cases, size: int = 224, cache_dir=None, *, margin: int = 20, cache: bool = True,
                   n_jobs: int = -1, roi: str = "otsu"):
    """Preprocess every case into ``(X, y, patient_ids, case_ids)``.

    ``X``: float32 (N, 1, size, size), each the masked, [0, 1]-scaled, resized lesion ROI;
    ``y``: int64 (N,), 1 = malignant; ``patient_ids``, ``case_ids``: str arrays (N,).
    The result is cached in ``cache_dir`` (default: ``default_cache_dir()``) unless ``cache=False``.
    Preprocessing runs in ``n_jobs`` joblib workers (-1: all cores). ``roi``: which region is kept ("otsu",
    "box" or "mask"; ``femur_app.data.preprocess.preprocess``); "mask" needs every case's true mask.
    """
    cases = list(cases)
    if roi == "mask":
        missing = [case.case_id for case in cases if case.mask is None]
        if missing:
            raise DataError(f"data.roi = 'mask': {len(missing)} case(s) have no lesion mask, e.g. {missing[:5]} "
                            "(expected a mask_path for every case, or data.roi = 'otsu' or 'box')")
    params = {"roi": roi} if roi != "otsu" else {}  # the paper's default keeps the cache keys it always had
    key = fingerprint(cases, size=size, margin=margin, version=PREPROCESS_VERSION, **params)
    path = Path(cache_dir or default_cache_dir()) / f"prepared_{key}.npz"
    if cache and path.exists():
        stored = read_cache(path, cases, size)
        if stored is not None:
            return stored
    rois = Parallel(n_jobs=n_jobs)(delayed(_preprocess_one)(case, size, margin, roi) for case in cases)
    X = np.stack(rois)[:, None].astype(np.float32) if rois else np.zeros((0, 1, size, size), np.float32)
    y = np.array([case.label for case in cases], dtype=np.int64)
    patient_ids = np.array([case.patient_id for case in cases], dtype=str)
    case_ids = np.array([case.case_id for case in cases], dtype=str)
    if cache:
        with write_atomic(path) as f:  # a reader never sees half a file
            np.savez(f, X=X, y=y, patient_ids=patient_ids, case_ids=case_ids)
    return X, y, patient_ids, case_ids


@dataclass
class Prepared:
    """The cases as the pipeline uses them, all in memory.

    ``X``: float32 (N, 1, S, S) preprocessed ROIs; ``y``: int64 (N,), 1 = malignant; ``patient_ids``,
    ``case_ids``: str (N,); ``masks``: per case the true lesion mask in the ROI's coordinates (bool S x S), or
    None where no mask is known; ``description``: where the cases came from, for the report; ``source``: the
    source as given to ``femur_app.data.load`` ("synthetic", "synthetic:SEED" or a folder); for a synthetic set,
    ``synthetic``: its ``SyntheticSet`` and ``signs``: the ``LesionSigns`` each case was drawn with (else None);
    ``image_hashes``: bool (N, 256), each whole image's ``average_hash``, to find the same picture in another set.
    """

    X: np.ndarray
    y: np.ndarray
    patient_ids: np.ndarray
    case_ids: np.ndarray
    masks: list
    description: str = ""
    source: str = ""
    synthetic: object = None  # femur_app.data.synthetic.SyntheticSet
    signs: list | None = None
    image_hashes: np.ndarray | None = None

    def take(self, index) -> Prepared:
        """The cases at positions ``index``, in that order (their signs too)."""
        index = np.asarray(index, dtype=np.int64)
        return dataclasses.replace(self, X=self.X[index], y=self.y[index], patient_ids=self.patient_ids[index],
                                   case_ids=self.case_ids[index], masks=[self.masks[i] for i in index],
                                   signs=None if self.signs is None else [self.signs[i] for i in index],
                                   image_hashes=None if self.image_hashes is None else self.image_hashes[index])


def prepare(cases, size: int = 224, *, margin: int = 20, description: str = "", cache: bool = True,
            roi: str = "otsu", source: str = "", synthetic=None, signs=None) -> Prepared:
    """``prepare_arrays`` (cached) plus each case's lesion mask carried through the same crop and resize; ``source``,
    ``synthetic`` and ``signs`` are kept beside, with each whole image's average hash (``Prepared``)."""
    cases = list(cases)
    X, y, patient_ids, case_ids = prepare_arrays(cases, size=size, margin=margin, cache=cache, roi=roi)
    masks = [None if case.mask is None else roi_mask(case.mask, case.box, size, margin) for case in cases]
    hashes = np.array([average_hash(case.image) for case in cases], dtype=bool).reshape(len(cases), -1)
    return Prepared(X, y, patient_ids, case_ids, masks, description, source, synthetic, signs, hashes)
