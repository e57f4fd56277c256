"""What loading a data folder will take in memory, estimated from its images' headers before any is decoded.

A run keeps every decoded image of ``--data`` (and ``--test-data``) until all are preprocessed, so a folder of
many large images can ask for more memory than the machine has, and the pixel cap of one image
(``femur_app.data.limits``) does not bound it. ``check`` reads the header of every file the folder lists - PNG,
JPEG and TIFF by ``limits.read_header``, DICOM by pydicom without its pixel data - and refuses the folder, naming
it, its image count and its pixels, when the estimate is above the memory budget (``femur_app.memory``):

    held       every image's pixels x ``HELD_BYTES_PER_PIXEL`` of its kind (PNG and JPEG decode to uint16, TIFF
               and DICOM may decode to float32), twice: the loaded cases, and the copy that joblib hands its
               preprocessing workers (memory-mapped files in /dev/shm, which are memory too);
    working    the workers at once (one per core), each reading or preprocessing an image as large as the
               largest: at most ``Declared.working_bytes`` of it;
    prepared   the preprocessed cases, input_size x input_size float32 each, twice (the list and the stacked
               array).

The bytes per pixel are measured, not assumed: ``tests/femur_app/data/test_folder_memory.py`` reads and
preprocesses images of every kind the loaders take, at 1:1 and at the 4:1 limit, and checks each peak
(tracemalloc) against them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import joblib

from femur_app import memory
from femur_app.data.dataset import LABEL_NAMES
from femur_app.data.limits import limit, read_header
from femur_app.data.loaders import check_data_folder, files_below, is_dicom, listed_path, read_table
from femur_app.errors import DataError

HELD_BYTES_PER_PIXEL = {"PNG": 2, "JPEG": 2, "TIFF": 4, "DICOM": 4}  # kept until preprocessed: uint16, or float32
DECODE_BYTES_PER_SAMPLE = 9  # the decoder's own array (float64 at most) and a byte of the finiteness check,
                             # per sample (RGBA: 4 samples a pixel)
PREPROCESS_BYTES_PER_PIXEL = 48  # preprocessing one image at the worst side ratio allowed (4:1: padded to its square)
OVERHEAD_BYTES = 2**20  # a decoder's buffers and small arrays, whatever the image's size
FLOAT32 = 4


@dataclass(frozen=True)
class Declared:
    """What an image file's header declares: its pixels (width x height x frames), samples per pixel (RGBA: 4)
    and the bytes per pixel of its decoded copy (``HELD_BYTES_PER_PIXEL`` of its kind)."""

    pixels: int
    samples: int = 1
    held_per_pixel: int = 4

    def working_bytes(self) -> int:
        """The most that reading, then preprocessing, this image allocates at once, its decoded copy included."""
        return self.pixels * (self.held_per_pixel + max(DECODE_BYTES_PER_SAMPLE * self.samples,
                                                        PREPROCESS_BYTES_PER_PIXEL)) + OVERHEAD_BYTES


def declared(path) -> Declared | None:
    """What ``path``'s header declares, nothing decoded; None when the header cannot be read or is not a size this
    estimate should trust (the loader then refuses the file and says why). Only a regular file is opened: a pipe
    in the folder would block the read (the loader refuses it unopened)."""
    try:
        if not Path(path).is_file():
            return None
        if is_dicom(path):
            import pydicom

            meta = pydicom.filereader.read_file_meta_info(path)
            if meta.get("TransferSyntaxUID") == pydicom.uid.DeflatedExplicitVRLittleEndian:
                return None  # its header is compressed too: the loader inflates it under a cap first
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            frames = int(ds.get("NumberOfFrames", 1) or 1)
            return Declared(int(ds.Rows) * int(ds.Columns) * frames, int(ds.get("SamplesPerPixel", 1) or 1),
                            HELD_BYTES_PER_PIXEL["DICOM"])
        header = read_header(path)
        return Declared(header.width * header.height * header.frames, header.samples, HELD_BYTES_PER_PIXEL[header.kind])
    except Exception:  # noqa: BLE001 - pydicom and the header readers raise many types; the loader reports them
        return None


def listed_files(folder, allow_outside: bool = False) -> list:
    """The image (and mask) files a data folder names: labels.csv's ``path`` and ``mask_path`` cells, or every file
    below ``benign/`` and ``malignant/``. A cell or folder in error is left out here: the loader refuses it (or,
    with ``skip_bad``, skips it) with its own message."""
    folder = check_data_folder(folder)
    table = folder / "labels.csv"
    if table.is_file():
        columns, rows = read_table(table)
        files = []
        for _, cells in rows:
            row = dict(zip(columns, cells))
            for column in ("path", "mask_path"):
                cell = (row.get(column) or "").strip()
                if cell:
                    try:
                        files.append(listed_path(folder, cell, "", allow_outside))
                    except DataError:
                        pass
        return files
    seen = {}
    return [path for name in LABEL_NAMES.values() if (folder / name).is_dir()
            for path in files_below(folder / name, seen, lambda error, path: None)]


def need(images: list[Declared], input_size: int, workers: int) -> int:
    """The bytes that loading and preprocessing ``images`` takes at most (the module docstring)."""
    held = 2 * sum(image.pixels * image.held_per_pixel for image in images)
    working = min(workers, len(images)) * max((image.working_bytes() for image in images), default=0)
    return held + working + 2 * len(images) * input_size**2 * FLOAT32


def check(folder, input_size: int, max_pixels: int | None = None, allow_outside: bool = False,
          option: str = "--data") -> None:
    """DataError naming ``folder`` when loading it would need more than the memory budget. Files above
    ``max_pixels`` are left out (the loader refuses them before decoding). ``input_size`` 0: nothing is prepared
    (``preview`` draws a few cases)."""
    cap = limit(max_pixels)
    images = [image for image in map(declared, listed_files(folder, allow_outside)) if image and image.pixels <= cap]
    total = sum(image.pixels for image in images)
    largest = max((image.pixels for image in images), default=0)
    memory.check(need(images, input_size, joblib.cpu_count()),
                 f"{option} {folder}: {len(images):,} images of {total:,} pixels in all (the largest {largest:,})"
                 + (f", prepared at data.input_size {input_size}" if input_size else ""), DataError)


def check_cap(max_pixels: int | None, name: str) -> None:
    """ConfigError naming ``name`` (the option or key that set it) when one image of ``max_pixels`` pixels (None:
    the default cap), read and preprocessed, would not fit in the memory budget: what reading images needs at
    least."""
    one = Declared(limit(max_pixels), samples=1, held_per_pixel=max(HELD_BYTES_PER_PIXEL.values()))
    memory.check(one.working_bytes(), f"{name} {limit(max_pixels):,} (one image of that many pixels, read and "
                                      "preprocessed)")
