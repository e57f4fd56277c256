"""Load a user's own MRI slices from a folder.

Two layouts are understood:

1. ``labels.csv`` in the folder, one row per image, with columns ``path,label,patient_id`` and optionally
   ``x0,y0,x1,y1`` (the lesion box in pixels, x = column, x1 and y1 exclusive; leave all four cells empty for
   no box) and ``mask_path`` (a lesion mask image, non-zero = lesion; empty for none). Paths are relative to
   the folder. ``label`` is ``benign``/``malignant`` (any case) or ``0``/``1``. When a mask is given without a
   box, the box is the mask's bounding box.
2. No CSV, but subfolders ``benign/`` and ``malignant/`` holding the images. There is no patient
   information then, so every image counts as its own patient; use a CSV when a patient has several images.

Images: PNG, JPEG, TIFF (read by imageio) and DICOM (``.dcm``/``.dicom``, or any file with the DICM
signature, read by pydicom, an optional extra). One grey frame, 8 or 16 bits (float TIFF is accepted too).
An RGB(A) image whose colour channels are identical (grey saved as colour) is read as grey; a true colour
image, a multi-frame file and a colour DICOM are rejected. DICOM ``MONOCHROME1`` is inverted so that high
signal is bright, and a rescale slope/intercept is applied. Pixel values are otherwise kept as they are:
uint16 for unsigned integer pixels, float32 for signed, rescaled or float pixels.

Every problem with an input raises ``DataError`` naming the file and what was expected. With
``skip_bad=True`` a bad row or file is skipped instead, but never silently: each one is logged as a warning
and listed in the result's ``skipped`` attribute. Nothing is ever unpickled.
"""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from femur_app.data.dataset import BENIGN, LABEL_NAMES, MALIGNANT, Case, box_of
from femur_app.errors import DataError  # defined beside UserError, which every command reports as one line

log = logging.getLogger("femur_app.data")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
DICOM_SUFFIXES = (".dcm", ".dicom")
REQUIRED_COLUMNS = ("path", "label", "patient_id")
BOX_COLUMNS = ("x0", "y0", "x1", "y1")
LABELS = {"benign": BENIGN, "malignant": MALIGNANT, "0": BENIGN, "1": MALIGNANT}


@dataclass(frozen=True)
class Skipped:
    """A file (or CSV row) left out under ``skip_bad``, and why."""

    path: str
    reason: str


class LoadResult(list):
    """The loaded cases (it *is* a ``list[Case]``) plus ``skipped``: the ``Skipped`` entries, in file order."""

    def __init__(self, cases=(), skipped=()):
        super().__init__(cases)
        self.skipped: list[Skipped] = list(skipped)


# --- single files --------------------------------------------------------------------------------------------

def is_dicom(path: Path) -> bool:
    """By suffix, or by the 'DICM' signature after the 128-byte preamble."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as f:
            return f.read(132)[128:] == b"DICM"
    except OSError:
        return False


def _pixels(array: np.ndarray) -> np.ndarray:
    """uint16 for unsigned integer pixels of up to 16 bits, float32 for anything else."""
    if array.dtype in (np.uint8, np.uint16, np.bool_):
        return array.astype(np.uint16)
    return array.astype(np.float32)


def to_gray(array: np.ndarray, path) -> np.ndarray:
    """One 2-D grey frame from an imageio array, or DataError for colour and multi-frame images."""
    if array.ndim == 2:
        return array
    if array.ndim == 3 and array.shape[-1] in (2, 3, 4):
        colour = array[..., :3] if array.shape[-1] >= 3 else array[..., :1]
        opaque = np.iinfo(array.dtype).max if array.dtype.kind in "ui" else 1.0
        if array.shape[-1] in (2, 4) and np.any(array[..., -1] != opaque):
            raise DataError(f"{path}: has a transparency (alpha) channel that is not fully opaque; "
                            "expected a single grey frame")
        if np.all(colour == colour[..., :1]):
            return colour[..., 0]
        raise DataError(f"{path}: is a colour image (shape {array.shape}); expected a single grey frame "
                        "(an RGB image with equal channels is accepted as grey)")
    if array.ndim == 3:
        raise DataError(f"{path}: has {array.shape[0]} frames (shape {array.shape}); expected a single frame - "
                        "export the slice with the lesion as its own file")
    raise DataError(f"{path}: has shape {array.shape}; expected a single 2-D grey frame")


def read_dicom(path: Path):
    """(pixels, spacing_mm or None) of a single-frame grey DICOM file."""
    try:
        import pydicom
        from pydicom.errors import InvalidDicomError
    except ImportError as exc:
        raise ImportError(f"{path}: reading DICOM needs pydicom: pip install minicnn[dicom]") from exc
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError as exc:
        raise DataError(f"{path}: is not a DICOM file ({exc})") from exc
    except Exception as exc:  # pydicom raises many types for damaged headers
        raise DataError(f"{path}: unreadable DICOM header ({type(exc).__name__}: {exc})") from exc
    if "PixelData" not in ds:
        kind = getattr(ds, "Modality", "unknown modality")
        raise DataError(f"{path}: DICOM without pixel data (modality {kind}); expected an image")
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if frames > 1:
        raise DataError(f"{path}: DICOM with {frames} frames; expected a single frame")
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2"))
    if int(getattr(ds, "SamplesPerPixel", 1)) != 1 or not photometric.startswith("MONOCHROME"):
        raise DataError(f"{path}: colour DICOM ({photometric}); expected MONOCHROME1 or MONOCHROME2")
    syntax = ds.file_meta.get("TransferSyntaxUID")
    try:
        array = ds.pixel_array
    except (RuntimeError, NotImplementedError) as exc:  # no installed plugin can decode this syntax
        name = syntax.name if syntax is not None else "an unknown transfer syntax"
        raise DataError(f"{path}: pixel data compressed with {name}, and no installed decoder handles it "
                        f"(install one of the plugins pydicom lists: {exc})") from exc
    except Exception as exc:  # truncated or inconsistent pixel data
        raise DataError(f"{path}: truncated or corrupt DICOM pixel data ({type(exc).__name__}: {exc})") from exc
    if array.ndim != 2:
        raise DataError(f"{path}: DICOM pixel array has shape {array.shape}; expected a single 2-D frame")
    slope, intercept = float(getattr(ds, "RescaleSlope", 1) or 1), float(getattr(ds, "RescaleIntercept", 0) or 0)
    pixels = _pixels(array)
    if (slope, intercept) != (1.0, 0.0):
        pixels = (array.astype(np.float32) * slope + intercept).astype(np.float32)
    if photometric == "MONOCHROME1":  # 0 is white in MONOCHROME1: invert so that bright = high signal
        pixels = (pixels.max() + pixels.min() - pixels).astype(pixels.dtype)
    spacing = getattr(ds, "PixelSpacing", None)
    return pixels, (float(np.mean([float(v) for v in spacing])) if spacing else None)


def read_image(path) -> tuple[np.ndarray, float | None]:
    """(2-D pixels, spacing_mm or None) of one image file; DataError names the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if is_dicom(path):
        return read_dicom(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DataError(f"{path}: unknown image type {path.suffix!r}; expected one of "
                        f"{', '.join(IMAGE_SUFFIXES + DICOM_SUFFIXES)}")
    import imageio.v3 as iio

    try:
        plugin = "tifffile" if path.suffix.lower() in (".tif", ".tiff") else "pillow"
        array = np.asarray(iio.imread(path, plugin=plugin))
    except Exception as exc:  # imageio raises OSError, ValueError, ... for damaged files
        raise DataError(f"{path}: unreadable or truncated image ({type(exc).__name__}: {exc})") from exc
    return _pixels(to_gray(array, path)), None


def read_mask(path, shape) -> np.ndarray:
    """A bool lesion mask (non-zero pixels) that must match the image ``shape`` and be non-empty."""
    pixels, _ = read_image(path)
    if pixels.shape != tuple(shape):
        raise DataError(f"{path}: mask is {pixels.shape[1]}x{pixels.shape[0]} (WxH) but its image is "
                        f"{shape[1]}x{shape[0]}; expected the same size")
    mask = pixels != 0
    if not mask.any():
        raise DataError(f"{path}: mask is empty; expected non-zero pixels on the lesion")
    return mask


# --- table entries -------------------------------------------------------------------------------------------

def parse_label(value: str, where: str) -> int:
    """0 (benign) or 1 (malignant) from 'benign'/'malignant'/'0'/'1', any case."""
    label = LABELS.get(str(value).strip().lower())
    if label is None:
        raise DataError(f"{where}: unknown label {value!r}; expected benign, malignant, 0 or 1")
    return label


def parse_box(row: dict, shape, where: str):
    """The box from the x0..y1 cells (None when all are empty), checked against the image ``shape``."""
    cells = [str(row.get(column) or "").strip() for column in BOX_COLUMNS]
    if not any(cells):
        return None
    if not all(cells):
        raise DataError(f"{where}: box {dict(zip(BOX_COLUMNS, cells))} is incomplete; fill x0, y0, x1, y1 or none")
    try:
        x0, y0, x1, y1 = (int(float(cell)) for cell in cells)
        if any(float(cell) != int(float(cell)) for cell in cells):
            raise ValueError
    except ValueError:
        raise DataError(f"{where}: box {cells} must be whole pixel numbers") from None
    H, W = shape
    if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
        raise DataError(f"{where}: box (x0, y0, x1, y1) = ({x0}, {y0}, {x1}, {y1}) is empty or outside the "
                        f"{W}x{H} (WxH) image; expected 0 <= x0 < x1 <= {W} and 0 <= y0 < y1 <= {H}")
    return x0, y0, x1, y1


def _case_id(path: Path, folder: Path) -> str:
    try:
        relative = path.relative_to(folder)
    except ValueError:
        relative = path
    return relative.with_suffix("").as_posix()


def _case_from_row(row: dict, folder: Path, where: str) -> Case:
    path = folder / row["path"].strip()
    image, spacing = read_image(path)
    label = parse_label(row["label"], where)
    patient_id = str(row["patient_id"]).strip()
    if not patient_id:
        raise DataError(f"{where}: empty patient_id; expected an identifier shared by a patient's images")
    box = parse_box(row, image.shape, where)
    mask = None
    if (row.get("mask_path") or "").strip():
        mask = read_mask(folder / row["mask_path"].strip(), image.shape)
        if box is None:
            box = box_of(mask)
    return Case(case_id=_case_id(path, folder), patient_id=patient_id, label=label, image=image, box=box,
                mask=mask, source=str(path), spacing_mm=spacing)


def _keep_or_raise(error: DataError, path: str, skip_bad: bool, skipped: list) -> None:
    if not skip_bad:
        raise error
    skipped.append(Skipped(path, str(error)))
    log.warning("skipped %s", error)


def load_labels_csv(folder, skip_bad: bool = False) -> LoadResult:
    """Cases listed in ``folder/labels.csv`` (see the module docstring for the columns)."""
    folder = Path(folder)
    table = folder / "labels.csv"
    with open(table, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise DataError(f"{table}: missing column(s) {', '.join(missing)}; found {columns}, expected "
                            f"{', '.join(REQUIRED_COLUMNS)} and optionally {', '.join(BOX_COLUMNS)}, mask_path")
        present_box = [c for c in BOX_COLUMNS if c in columns]
        if present_box and len(present_box) != 4:
            raise DataError(f"{table}: has box column(s) {present_box} but not all of {', '.join(BOX_COLUMNS)}")
        rows = [{k.strip(): v for k, v in row.items() if k is not None} for row in reader]
    cases, skipped, seen = [], [], {}
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        path = (row.get("path") or "").strip()
        where = f"{table} line {line} ({path or 'no path'})"
        try:
            if not path:
                raise DataError(f"{where}: empty path")
            key = (folder / path).resolve()
            if key in seen:
                raise DataError(f"{where}: duplicate path, already listed on line {seen[key]}")
            seen[key] = line
            cases.append(_case_from_row(row, folder, where))
        except DataError as error:
            if not str(error).startswith(where):  # a file's own error: say which row listed it
                error = DataError(f"{where}: {error}")
            _keep_or_raise(error, path, skip_bad, skipped)
    return LoadResult(cases, skipped)


def load_class_folders(folder, skip_bad: bool = False) -> LoadResult:
    """Cases from ``folder/benign/`` and ``folder/malignant/`` (each image its own patient; hidden files ignored)."""
    folder = Path(folder)
    cases, skipped = [], []
    for label in (BENIGN, MALIGNANT):
        for path in sorted((folder / LABEL_NAMES[label]).rglob("*")):
            if path.is_dir() or path.name.startswith("."):
                continue
            try:
                image, spacing = read_image(path)
            except DataError as error:
                _keep_or_raise(error, str(path), skip_bad, skipped)
                continue
            case_id = _case_id(path, folder)
            cases.append(Case(case_id=case_id, patient_id=case_id, label=label, image=image, box=None, mask=None,
                              source=str(path), spacing_mm=spacing))
    return LoadResult(cases, skipped)


def load_folder(folder, skip_bad: bool = False) -> LoadResult:
    """Cases of a data folder: ``labels.csv`` if present, else ``benign/`` and ``malignant/`` subfolders."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: data folder not found")
    if (folder / "labels.csv").is_file():
        result = load_labels_csv(folder, skip_bad)
    elif (folder / "benign").is_dir() and (folder / "malignant").is_dir():
        result = load_class_folders(folder, skip_bad)
    else:
        raise DataError(f"{folder}: expected labels.csv, or subfolders benign/ and malignant/")
    if not result:
        raise DataError(f"{folder}: no usable cases ({len(result.skipped)} skipped)")
    return result
