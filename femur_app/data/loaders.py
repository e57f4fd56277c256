"""Load a user's own MRI slices from a folder.

Two layouts are understood:

1. ``labels.csv`` in the folder (UTF-8), one row per image, with columns ``path,label,patient_id`` and
   optionally ``x0,y0,x1,y1`` (the lesion box in pixels, x = column, x1 and y1 exclusive; leave all four cells
   empty for no box) and ``mask_path`` (a lesion mask image, non-zero = lesion; empty for none). Paths are
   relative to the folder and may not leave it (no absolute paths, no ``..`` above it) unless
   ``allow_outside=True``. ``label`` is ``benign``/``malignant`` (any case) or ``0``/``1``. When a mask is given
   without a box, the box is the mask's bounding box. Other columns are ignored; a row with more cells than
   the header has columns is refused.
2. No CSV, but subfolders ``benign/`` and ``malignant/`` holding the images (at any depth; symbolically linked
   folders are followed, a folder reached twice - a link loop - is refused). There is no patient information
   then, so every image counts as its own patient; use a CSV when a patient has several images.

Images: PNG, JPEG, TIFF (recognised by their signature; PNG and JPEG decoded by imageio's Pillow plugin, TIFF by
tifffile) and DICOM (``.dcm``/``.dicom``, or any file with the DICM signature, read by pydicom, an optional
extra). One grey frame, 8 or 16 bits (float TIFF is accepted too). An RGB(A) image whose colour channels are
identical (grey saved as colour) is read as grey; a true colour image, a multi-frame file and a colour DICOM are
rejected. DICOM ``MONOCHROME1`` is inverted so that high signal is bright, and a rescale slope/intercept is
applied. Pixel values are otherwise kept as they are: uint16 for unsigned integer pixels, float32 for signed,
rescaled or float pixels. Before decoding, the header's pixel count is checked against ``max_pixels``
(``femur_app.data.limits``); after it, every pixel must be finite and an image must not be constant.

Every problem with an input raises ``DataError`` naming the file (and the CSV line) and what was expected.
With ``skip_bad=True`` a bad row or file is skipped instead, but never silently: each one is logged as a
warning and listed in the result's ``skipped`` attribute. A broken table (not UTF-8, a missing column,
damaged quoting) is never skipped. Nothing is ever unpickled.
"""
from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import imageio.v3 as iio
import numpy as np
from PIL import Image

from femur_app.data.dataset import BENIGN, LABEL_NAMES, MALIGNANT, Case, box_of
from femur_app.data.limits import check_deflated_dicom, check_header, check_pixel_count, check_tiff_strips
from femur_app.errors import DataError, MissingDependency  # beside UserError, which every command reports as one line

log = logging.getLogger("femur_app.data")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
DICOM_SUFFIXES = (".dcm", ".dicom")
REQUIRED_COLUMNS = ("path", "label", "patient_id")
BOX_COLUMNS = ("x0", "y0", "x1", "y1")
LABELS = {"benign": BENIGN, "malignant": MALIGNANT, "0": BENIGN, "1": MALIGNANT}
MAX_TABLE_BYTES = 64 * 2**20  # a labels.csv of 64 MiB lists about a million images


@dataclass(frozen=True)
class Skipped:
    """A file (or CSV row) left out under ``skip_bad``, and why."""

    path: str
    reason: str


class LoadResult(list):
    """The loaded cases (it *is* a ``list[Case]``) plus ``skipped``: the ``Skipped`` entries, in file order,
    and ``warnings``: messages about cases that were loaded but deserve a look (each starts with the file)."""

    def __init__(self, cases=(), skipped=(), warnings=()):
        super().__init__(cases)
        self.skipped: list[Skipped] = list(skipped)
        self.warnings: list[str] = list(warnings)


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


def _pixels(array: np.ndarray, path) -> np.ndarray:
    """uint16 for unsigned integer pixels of up to 16 bits, float32 for other real pixels; DataError for complex
    ones (casting would drop the imaginary part with only a warning)."""
    if array.dtype.kind == "c":
        raise DataError(f"{path}: has complex pixels ({array.dtype}); expected real intensities (save the magnitude "
                        "image)")
    if array.dtype in (np.uint8, np.uint16, np.bool_):
        return array.astype(np.uint16)
    return array.astype(np.float32)


def to_gray(array: np.ndarray, path, mode: str = "RGB") -> np.ndarray:
    """One 2-D grey frame from a decoded array, or DataError for colour and multi-frame images (``mode``: the
    file's colour model, named in the message: a CMYK file arrives here converted to RGB)."""
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
        raise DataError(f"{path}: is a colour image ({mode}, shape {array.shape}); expected a single grey frame "
                        f"(a grey image saved as {mode}, with equal channels as RGB, is accepted as grey)")
    if array.ndim == 3:
        raise DataError(f"{path}: has {array.shape[0]} frames (shape {array.shape}); expected a single frame - "
                        "export the slice with the lesion as its own file")
    raise DataError(f"{path}: has shape {array.shape}; expected a single 2-D grey frame")


def _dicom_number(ds, keyword: str, default, kind, path):
    """``kind(ds.<keyword>)``, ``default`` when the element is absent or empty, DataError when it is no number."""
    try:
        value = ds.get(keyword)
    except Exception as exc:  # pydicom converts the value when it is first read
        raise DataError(f"{path}: DICOM {keyword} is unreadable ({type(exc).__name__}: {exc}); expected a number") \
            from exc
    if value is None or value == "":
        return default
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{path}: DICOM {keyword} is {value!r}; expected a single number") from None


def read_dicom(path: Path, max_pixels: int | None = None):
    """(pixels, spacing_mm or None) of a single-frame grey DICOM file; the pixel count is checked first."""
    try:
        import pydicom
        from pydicom.errors import InvalidDicomError
    except ImportError as exc:
        raise MissingDependency(f"{path}: reading DICOM needs pydicom: pip install minicnn[dicom]") from exc
    try:
        meta = pydicom.filereader.read_file_meta_info(path)
        if meta.get("TransferSyntaxUID") == pydicom.uid.DeflatedExplicitVRLittleEndian:
            group_length = meta.get("FileMetaInformationGroupLength")
            if group_length is None:
                raise DataError(f"{path}: deflated DICOM without a file meta group length; expected one")
            # preamble and 'DICM' (132 bytes), the group length element (12 bytes), then the rest of the group
            check_deflated_dicom(path, 132 + 12 + int(group_length), max_pixels)
        ds = pydicom.dcmread(path)
    except DataError:
        raise
    except InvalidDicomError as exc:
        raise DataError(f"{path}: is not a DICOM file ({exc})") from exc
    except Exception as exc:  # pydicom raises many types for damaged headers
        raise DataError(f"{path}: unreadable DICOM header ({type(exc).__name__}: {exc})") from exc
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        try:
            kind = ds.get("Modality", "unknown")
        except Exception:  # pydicom converts the element when it is read: a damaged one raises (NotImplementedError)
            kind = "unreadable"
        raise DataError(f"{path}: DICOM without pixel data (modality {kind}); expected an image")
    rows, columns = _dicom_number(ds, "Rows", 0, int, path), _dicom_number(ds, "Columns", 0, int, path)
    frames = _dicom_number(ds, "NumberOfFrames", 1, int, path)
    samples = _dicom_number(ds, "SamplesPerPixel", 1, int, path)
    check_pixel_count(path, columns, rows, frames, samples, max_pixels)
    if frames > 1:
        raise DataError(f"{path}: DICOM with {frames} frames; expected a single frame")
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2"))
    if samples != 1 or not photometric.startswith("MONOCHROME"):
        raise DataError(f"{path}: colour DICOM ({photometric}); expected MONOCHROME1 or MONOCHROME2")
    slope = _dicom_number(ds, "RescaleSlope", 1.0, float, path)
    intercept = _dicom_number(ds, "RescaleIntercept", 0.0, float, path)
    if not (math.isfinite(slope) and slope != 0 and math.isfinite(intercept)):
        raise DataError(f"{path}: DICOM RescaleSlope {slope} and RescaleIntercept {intercept}; expected finite "
                        "numbers and a non-zero slope")
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
    pixels = _pixels(array, path)
    if (slope, intercept) != (1.0, 0.0):
        pixels = (array.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(np.float32)
    if photometric == "MONOCHROME1":  # 0 is white in MONOCHROME1: invert so that bright = high signal
        pixels = (pixels.max() + pixels.min() - pixels).astype(pixels.dtype)
    return pixels, _dicom_spacing(ds, path)


def _dicom_spacing(ds, path) -> float | None:
    """The mean of PixelSpacing's two values in mm, None when absent; DataError when not positive numbers."""
    spacing = ds.get("PixelSpacing")
    if not spacing:
        return None
    try:
        values = [float(v) for v in ([spacing] if isinstance(spacing, (str, bytes, int, float)) else spacing)]
    except (TypeError, ValueError, OverflowError):
        values = []
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise DataError(f"{path}: DICOM PixelSpacing is {spacing!r}; expected two positive numbers (mm)")
    return float(np.mean(values))


_PILLOW_LIMIT_LOCK = threading.Lock()


@contextlib.contextmanager
def _pillow_allows(pixels: int):
    """Raise Pillow's own decompression-bomb limit to ``pixels`` for one decode (our limit was checked already)."""
    if Image.MAX_IMAGE_PIXELS is None or pixels <= Image.MAX_IMAGE_PIXELS:
        yield
        return
    with _PILLOW_LIMIT_LOCK:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _check_is_file(path: Path) -> None:
    if path.is_file():
        return
    if path.is_symlink():
        raise DataError(f"{path}: is a broken symbolic link or a link loop (it points to {os.readlink(path)!r}); "
                        "expected an image file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder; expected an image file")
    raise DataError(f"{path}: file not found")


def check_finite(pixels: np.ndarray, path) -> np.ndarray:
    """``pixels``, or DataError when any is NaN or infinite (float TIFF, DICOM float data, a rescale overflow)."""
    if pixels.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(pixels)))
        if bad:
            raise DataError(f"{path}: {bad:,} of {pixels.size:,} pixels are not finite (NaN or infinity); expected "
                            "finite intensities")
    return pixels


def read_image(path, max_pixels: int | None = None) -> tuple[np.ndarray, float | None]:
    """(2-D pixels, spacing_mm or None) of one image file; DataError names the file and the problem.

    The header is read first and a file of more than ``max_pixels`` pixels (width x height x frames; None:
    ``femur_app.data.limits.MAX_PIXELS``) is refused before it is decoded.
    """
    path = Path(path)
    _check_is_file(path)
    if is_dicom(path):
        pixels, spacing = read_dicom(path, max_pixels)
        return check_finite(pixels, path), spacing
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DataError(f"{path}: unknown image type {path.suffix!r}; expected one of "
                        f"{', '.join(IMAGE_SUFFIXES + DICOM_SUFFIXES)}")
    try:
        header = check_header(path, max_pixels)
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from exc
    if header.frames > 1:
        raise DataError(f"{path}: has {header.frames} frames; expected a single frame - export the slice with the "
                        "lesion as its own file")
    if header.kind == "TIFF":
        check_tiff_strips(path)
    try:
        if header.kind == "TIFF":
            import tifffile

            with tifffile.TiffFile(path) as tif:
                if tif.pages.first.photometric == tifffile.PHOTOMETRIC.SEPARATED:
                    raise DataError(f"{path}: is a CMYK (separated) TIFF; expected a single grey frame")
                array = tif.pages.first.asarray()
            mode = "RGB"
        else:
            with _pillow_allows(header.width * header.height):
                with Image.open(path) as image:  # reads the header only: the colour model
                    mode = image.mode
                # EXIF orientation applied (rotate): the image as a viewer shows it; CMYK converted to RGB
                array = np.asarray(iio.imread(path, plugin="pillow", index=0, rotate=True,
                                              mode="RGB" if mode == "CMYK" else None))
    except DataError:
        raise
    except Exception as exc:  # the decoders raise OSError, ValueError, ... for damaged files
        reason = exc.__cause__ if exc.__cause__ is not None else exc  # imageio wraps Pillow's own message
        raise DataError(f"{path}: unreadable or truncated image ({type(reason).__name__}: {reason})") from exc
    return check_finite(_pixels(to_gray(array, path, "CMYK" if mode == "CMYK" else "RGB"), path), path), None


def read_mask(path, shape, max_pixels: int | None = None) -> np.ndarray:
    """A bool lesion mask (non-zero pixels) that must match the image ``shape`` and be non-empty."""
    pixels, _ = read_image(path, max_pixels)
    if pixels.shape != tuple(shape):
        raise DataError(f"{path}: mask is {pixels.shape[1]}x{pixels.shape[0]} (WxH) but its image is "
                        f"{shape[1]}x{shape[0]}; expected the same size")
    mask = pixels != 0
    if not mask.any():
        raise DataError(f"{path}: mask is empty; expected non-zero pixels on the lesion")
    return mask


def check_signal(image: np.ndarray, path) -> None:
    """DataError for an image that carries no signal: every pixel the same (a 1x1 image is always constant)."""
    low, high = image.min(), image.max()
    if low == high:
        raise DataError(f"{path}: every pixel of the {image.shape[1]}x{image.shape[0]} image is {low:g}: it carries "
                        "no signal (expected an MR slice with varying intensities)")


def size_warning(image: np.ndarray, path, input_size: int | None) -> str | None:
    """A warning when an image is smaller than the network's ``input_size`` on a side (it is then upsampled)."""
    H, W = image.shape
    if input_size is None or min(H, W) >= input_size:
        return None
    return (f"{path}: {W}x{H} pixels is smaller than the network input of {input_size}x{input_size}; it is "
            "upsampled, so the network sees less detail than in a full-size image")


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
        numbers = [float(cell) for cell in cells]
    except ValueError:
        numbers = [math.nan]
    if not all(math.isfinite(v) and v == int(v) for v in numbers):  # isfinite first: int(inf) would overflow
        raise DataError(f"{where}: box {cells} must be whole pixel numbers")
    x0, y0, x1, y1 = (int(v) for v in numbers)
    H, W = shape
    if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
        raise DataError(f"{where}: box (x0, y0, x1, y1) = ({x0}, {y0}, {x1}, {y1}) is empty or outside the "
                        f"{W}x{H} (WxH) image; expected 0 <= x0 < x1 <= {W} and 0 <= y0 < y1 <= {H}")
    return x0, y0, x1, y1


def read_table(table: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line, cells)]) of a UTF-8 CSV file; ``line`` is where the row starts (a quoted cell may span
    lines), blank rows are left out. DataError names the table and the line for anything unreadable."""
    try:
        size = table.stat().st_size
        if size > MAX_TABLE_BYTES:
            raise DataError(f"{table}: is {size:,} bytes; expected at most {MAX_TABLE_BYTES:,} for a table of images")
        data = table.read_bytes()
    except OSError as exc:
        raise DataError(f"{table}: cannot be read ({type(exc).__name__}: {exc})") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DataError(f"{table} line {line}: byte 0x{data[exc.start]:02x} is not UTF-8 text (expected a UTF-8 "
                        "file; a spreadsheet saves one as 'CSV UTF-8')") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, start = [], 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{table} line {start}: {exc} (expected comma-separated cells; a cell holding a comma, "
                        "a quote or a line break goes in double quotes)") from None
    if not rows:
        raise DataError(f"{table}: is empty; expected a header line {','.join(REQUIRED_COLUMNS)} and a row per image")
    (_, header), *body = rows
    return [column.strip() for column in header], body


def _check_columns(table: Path, columns: list[str]) -> None:
    named = [c for c in columns if c]
    repeated = sorted({c for c in named if named.count(c) > 1})
    if repeated:
        raise DataError(f"{table}: column(s) {', '.join(repeated)} appear more than once in the header; expected "
                        "each once")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise DataError(f"{table}: missing column(s) {', '.join(missing)}; found {columns}, expected "
                        f"{', '.join(REQUIRED_COLUMNS)} and optionally {', '.join(BOX_COLUMNS)}, mask_path")
    present_box = [c for c in BOX_COLUMNS if c in columns]
    if present_box and len(present_box) != 4:
        raise DataError(f"{table}: has box column(s) {present_box} but not all of {', '.join(BOX_COLUMNS)}")


def listed_path(folder: Path, cell: str, where: str, allow_outside: bool = False) -> Path:
    """The file a ``labels.csv`` cell names: relative to ``folder`` and inside it, unless ``allow_outside``.

    The check is on the path as written (an absolute path, or ``..`` climbing above the folder); a symbolic link
    inside the folder is followed wherever it points, since whoever made it chose its target.
    """
    if "\x00" in cell:
        raise DataError(f"{where}: path {cell!r} holds a NUL character; expected a file name")
    written = Path(cell)
    if os.path.normpath(cell) == ".":
        raise DataError(f"{where}: path {cell!r} names the data folder itself; expected an image file")
    if not allow_outside:
        if written.is_absolute():
            raise DataError(f"{where}: absolute path {cell!r}; expected a path relative to the data folder {folder} "
                            "(allow_outside=True reads files elsewhere)")
        if PurePosixPath(os.path.normpath(cell)).parts[:1] == ("..",):
            raise DataError(f"{where}: path {cell!r} climbs out of the data folder {folder}; expected a path inside "
                            "it (allow_outside=True reads files elsewhere)")
    return folder / written


def check_data_folder(folder) -> Path:
    """``folder`` as a Path; DataError naming it unless it is a folder (the data's, or a test set's)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: {'is a file' if folder.exists() else 'not found'}; expected a data folder")
    return folder


def _case_id(relative: str) -> str:
    """A path as written in the table or below the data folder, normalised, without its suffix."""
    return PurePosixPath(os.path.normpath(relative)).with_suffix("").as_posix()


def _keep_or_raise(error: DataError, path: str, skip_bad: bool, skipped: list) -> None:
    if not skip_bad:
        raise error
    skipped.append(Skipped(path, str(error)))
    log.warning("skipped %s", error)


def _warn(message: str | None, warnings: list) -> None:
    if message:
        warnings.append(message)
        log.warning("%s", message)


def case_columns(folder, names) -> dict[str, dict[str, str]] | None:
    """{case id: {column: value}} of the informative ``names`` of ``folder/labels.csv`` (such as the BTXRD
    importer's center and subtype), or None when the folder has no labels.csv or it lacks one of the columns.
    The table was checked when its cases were loaded; a row without a path is left out."""
    table = Path(folder) / "labels.csv"
    if not table.is_file():
        return None
    columns, rows = read_table(table)
    if "path" not in columns or any(name not in columns for name in names):
        return None
    values = {}
    for _, cells in rows:
        row = dict(zip(columns, cells + [""] * (len(columns) - len(cells))))
        if row["path"].strip():
            values[_case_id(row["path"].strip())] = {name: row[name].strip() for name in names}
    return values


def load_labels_csv(folder, skip_bad: bool = False, *, allow_outside: bool = False, max_pixels: int | None = None,
                    input_size: int | None = None) -> LoadResult:
    """Cases listed in ``folder/labels.csv`` (see the module docstring for the columns and ``load_folder`` for
    the keyword arguments)."""
    folder = Path(folder)
    table = folder / "labels.csv"
    columns, rows = read_table(table)
    _check_columns(table, columns)
    cases, skipped, warnings = [], [], []
    line_of_file, line_of_case = {}, {}
    for line, cells in rows:
        row = dict(zip(columns, cells + [""] * (len(columns) - len(cells))))
        path = row["path"].strip()
        where = f"{table} line {line} ({path or 'no path'})"
        try:
            if len(cells) > len(columns):
                raise DataError(f"{where}: {len(cells)} cells but the header has {len(columns)} columns (expected at "
                                f"most {len(columns)}; a value holding a comma goes in double quotes)")
            if not path:
                raise DataError(f"{where}: empty path")
            file = listed_path(folder, path, where, allow_outside)
            key = os.path.realpath(file)  # never raises, even on a link loop
            if key in line_of_file:
                raise DataError(f"{where}: duplicate path, already listed on line {line_of_file[key]}")
            line_of_file[key] = line
            case_id = _case_id(path)
            if case_id in line_of_case:
                first_line, first_path = line_of_case[case_id]
                raise DataError(f"{where}: case id {case_id!r} is already used by line {first_line} ({first_path}); "
                                "expected one image per case id (the id is the path without its suffix)")
            line_of_case[case_id] = (line, path)
            case = _case_from_row(row, folder, file, case_id, where, allow_outside, max_pixels)
            _warn(size_warning(case.image, file, input_size), warnings)
            cases.append(case)
        except DataError as error:
            if not str(error).startswith(where):  # a file's own error: say which row listed it
                error = DataError(f"{where}: {error}")
            _keep_or_raise(error, path, skip_bad, skipped)
    for message in mixed_labels(table, cases, line_of_case):
        _warn(message, warnings)
    return LoadResult(cases, skipped, warnings)


def mixed_labels(table: Path, cases, line_of_case: dict) -> list[str]:
    """A warning for every patient with both benign and malignant images, naming their lines. They are kept (two
    lesions of one patient can differ), in one fold like every patient's images; but one lesion labelled both ways
    is a labelling error that no metric would reveal, so it is said."""
    by_patient = {}
    for case in cases:
        by_patient.setdefault(case.patient_id, []).append(case)
    found = []
    for patient, own in by_patient.items():
        if len({case.label for case in own}) > 1:
            rows = ", ".join(f"line {line_of_case[c.case_id][0]} ({line_of_case[c.case_id][1]}) {LABEL_NAMES[c.label]}"
                             for c in own)
            found.append(f"{table}: patient {patient!r} has both benign and malignant images: {rows}; both are "
                         "kept, in one fold (check the labels if the patient has one lesion)")
    return found


def _case_from_row(row: dict, folder: Path, file: Path, case_id: str, where: str, allow_outside: bool,
                   max_pixels: int | None) -> Case:
    label = parse_label(row["label"], where)
    patient_id = str(row["patient_id"]).strip()
    if not patient_id:
        raise DataError(f"{where}: empty patient_id; expected an identifier shared by a patient's images")
    image, spacing = read_image(file, max_pixels)
    check_signal(image, file)
    box = parse_box(row, image.shape, where)
    mask = None
    mask_cell = (row.get("mask_path") or "").strip()
    if mask_cell:
        mask = read_mask(listed_path(folder, mask_cell, where, allow_outside), image.shape, max_pixels)
        if box is None:
            box = box_of(mask)
    return Case(case_id=case_id, patient_id=patient_id, label=label, image=image, box=box, mask=mask,
                source=str(file), spacing_mm=spacing)


def files_below(directory: Path, seen: dict, report) -> list[Path]:
    """Every file below ``directory``, depth first with names sorted, hidden names (``.*``) left out.

    Symbolically linked folders are followed. ``seen`` maps (device, inode) to the first path of every folder
    and file already listed, over all calls: a folder reached twice (a link loop, or a second link to it) and a
    file reached twice are refused through ``report(error, path)`` - ``_keep_or_raise`` - never listed twice.
    """
    try:
        identity = directory.stat()
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as exc:
        report(DataError(f"{directory}: cannot list this folder ({exc.strerror}); expected a readable folder"),
               directory)
        return []
    key = (identity.st_dev, identity.st_ino)
    if key in seen:
        report(DataError(f"{directory}: is the folder {seen[key]} again (a symbolic link loop, or a second link "
                         "to it); expected every folder once"), directory)
        return []
    seen[key] = directory
    files = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if entry.is_dir():  # follows symbolic links
            files += files_below(path, seen, report)
            continue
        try:
            stat = path.stat()
        except OSError:  # a broken link or a link loop: read_image says which
            files.append(path)
            continue
        if (stat.st_dev, stat.st_ino) in seen:
            report(DataError(f"{path}: is the same file as {seen[stat.st_dev, stat.st_ino]}; expected every image "
                             "once"), path)
            continue
        seen[stat.st_dev, stat.st_ino] = path
        files.append(path)
    return files


def load_class_folders(folder, skip_bad: bool = False, *, max_pixels: int | None = None,
                       input_size: int | None = None) -> LoadResult:
    """Cases from ``folder/benign/`` and ``folder/malignant/`` (each image its own patient; hidden names ignored;
    linked folders followed, a loop refused)."""
    folder = Path(folder)
    cases, skipped, warnings = [], [], []
    seen, path_of_case = {}, {}

    def report(error: DataError, path) -> None:
        _keep_or_raise(error, str(path), skip_bad, skipped)

    for label in (BENIGN, MALIGNANT):
        for path in files_below(folder / LABEL_NAMES[label], seen, report):
            try:
                case_id = _case_id(path.relative_to(folder).as_posix())
                if case_id in path_of_case:
                    raise DataError(f"{path}: case id {case_id!r} is already used by {path_of_case[case_id]}; expected "
                                    "one image per case id (the id is the path without its suffix)")
                path_of_case[case_id] = path
                image, spacing = read_image(path, max_pixels)
                check_signal(image, path)
                _warn(size_warning(image, path, input_size), warnings)
            except DataError as error:
                report(error, path)
                continue
            cases.append(Case(case_id=case_id, patient_id=case_id, label=label, image=image, box=None, mask=None,
                              source=str(path), spacing_mm=spacing))
    return LoadResult(cases, skipped, warnings)


def load_folder(folder, skip_bad: bool = False, *, allow_outside: bool = False, max_pixels: int | None = None,
                input_size: int | None = None) -> LoadResult:
    """Cases of a data folder: ``labels.csv`` if present, else ``benign/`` and ``malignant/`` subfolders.

    ``skip_bad``: skip (log and list in ``result.skipped``) a bad file or row instead of raising ``DataError``.
    ``allow_outside``: let ``labels.csv`` name files outside the folder (absolute paths, ``..``).
    ``max_pixels``: refuse images of more pixels than this before decoding them (None:
    ``femur_app.data.limits.MAX_PIXELS``). ``input_size``: the network's input side; smaller images are loaded
    with a warning in ``result.warnings``.
    """
    folder = check_data_folder(folder)
    if (folder / "labels.csv").is_file():
        result = load_labels_csv(folder, skip_bad, allow_outside=allow_outside, max_pixels=max_pixels,
                                 input_size=input_size)
    elif (folder / "benign").is_dir() and (folder / "malignant").is_dir():
        result = load_class_folders(folder, skip_bad, max_pixels=max_pixels, input_size=input_size)
    else:
        raise DataError(f"{folder}: expected labels.csv, or subfolders benign/ and malignant/")
    if not result:
        raise DataError(f"{folder}: no usable cases ({len(result.skipped)} skipped)")
    return result
