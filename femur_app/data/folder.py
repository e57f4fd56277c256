"""Writing cases as a data folder: the layout users give their own data in (``femur_app.data.loaders`` reads it).

``labels.csv`` (path,label,patient_id,x0,y0,x1,y1,mask_path), ``images/<case_id>.png`` (16-bit grey PNG, the raw
intensities) and ``masks/<case_id>.png`` (8-bit, 255 = lesion), so that ``load_folder(DIR)`` reads back exactly
the written pixels, labels, boxes and masks. Case ids read back as ``images/<case_id>`` (the path without suffix).
``check_output_folder`` is what ``synth`` and ``import_btxrd`` check before they write one: nothing of the user's
is written over, and nothing of the source.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from femur_app.data.dataset import LABEL_NAMES
from femur_app.errors import DataError
from minicnn.serialize import write_bytes_atomic, write_text_atomic

COLUMNS = ("path", "label", "patient_id", "x0", "y0", "x1", "y1", "mask_path")


def check_output_folder(out, force: bool = False, source=None) -> None:
    """Refuse (DataError) to write a data folder at ``out`` where it would write over or into something: ``out``
    a file, ``out`` the ``source`` folder or inside it (a new set written into the set it is made from), or a
    folder that already holds files unless ``force`` (then files of the same names are replaced)."""
    out = Path(out)
    if source is not None:
        inside, src = Path(os.path.realpath(out)), Path(os.path.realpath(source))
        if inside == src or src in inside.parents:
            raise DataError(f"--out {out}: is inside --src {source} (expected a folder outside the source: "
                            "writing there would change the source)")
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: is a file (expected a folder to write the data set into)")
    entries = sorted(os.listdir(out)) if out.is_dir() else []
    if entries and not force:
        shown = ", ".join(name + ("/" if (out / name).is_dir() else "") for name in entries[:6])
        more = f" and {len(entries) - 6} more" if len(entries) > 6 else ""
        raise DataError(f"--out {out}: already holds files ({shown}{more}) (expected a new or empty folder; "
                        "--force writes into it, replacing files of the same names)")


def write_folder(cases, out) -> Path:
    """Write ``cases`` (uint16 images, boxes, masks) to ``out``; returns the path of ``labels.csv``."""
    out = Path(out)
    rows = []
    for case in cases:
        if case.image.dtype != np.uint16:
            raise ValueError(f"write_folder: {case.case_id} has {case.image.dtype} pixels; expected uint16")
        image_path, mask_path = f"images/{case.case_id}.png", ""
        write_bytes_atomic(out / image_path, iio.imwrite("<bytes>", case.image, extension=".png"))
        if case.mask is not None:
            mask_path = f"masks/{case.case_id}.png"
            write_bytes_atomic(out / mask_path, iio.imwrite("<bytes>", case.mask.astype(np.uint8) * 255,
                                                            extension=".png"))
        box = case.box if case.box is not None else ("", "", "", "")
        rows.append((image_path, LABEL_NAMES[case.label], case.patient_id, *box, mask_path))
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return write_text_atomic(out / "labels.csv", text.getvalue())
