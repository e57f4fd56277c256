"""A BTXRD-shaped miniature for the importer's tests: nine radiographs laid out as the real download is.

``write_miniature(root)`` writes ``root/BTXRD/`` with a real ``dataset.xlsx`` (openpyxl, the 37 columns in
their published order), ``images/`` (``.jpeg`` and one ``.jpg``; grey, RGB with equal channels and one tinted
true-colour RGB), ``Annotations/`` (LabelMe 5 JSON with rectangles whose corners come in every order, polygons,
an image with two lesions, a point just outside the image), the nested duplicate ``Annotations/Annotations/``
(two byte-identical copies and one file found only there), and an Office lock file ``~$dataset.xlsx``.

What the importer must find is written here by hand, next to the data it describes (``ROWS``, ``BOXES``,
``MASK_PIXELS``, ``PATIENTS``):

- IMG000001 (frontal), IMG000002 (lateral): one patient by the consecutive-id rule (same centre, age, gender,
  sites, diagnosis); IMG000005 (another centre, two ids later) is a byte copy of IMG000001's JPEG, so the
  exact-duplicate rule joins it to them.
- IMG000003 (a row flagging tibia, fibula and femur) and IMG000007 (centre 3, lateral) are one patient by the
  perceptual hash: IMG000007 is IMG000003 shrunk to 80 %, brightened by 6 grey levels, with noise, re-encoded.
- IMG000004 and IMG000009 are normal radiographs (no annotation); IMG000006 is a humerus (not femur).
"""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.transform import resize

from femur_app.data.btxrd import COLUMNS

#   stem: (suffix, width, height, colour, center, age, gender, sites, diagnosis, subtype, view)
ROWS = {
    "IMG000001": (".jpeg", 157, 211, "rgb-grey", 1, 12, "M", ("femur", "lower limb"), "benign", "osteochondroma", "frontal"),
    "IMG000002": (".jpeg", 143, 190, "grey", 1, 12, "M", ("femur", "lower limb"), "benign", "osteochondroma", "lateral"),
    "IMG000003": (".jpeg", 171, 223, "grey", 1, 40, "F", ("tibia", "fibula", "femur", "lower limb"), "malignant", "osteosarcoma", "frontal"),
    "IMG000004": (".jpeg", 160, 200, "grey", 2, 30, "F", ("femur", "lower limb"), None, None, "frontal"),
    "IMG000005": (".jpeg", 157, 211, "rgb-grey", 2, 12, "M", ("femur", "lower limb"), "benign", "osteochondroma", "frontal"),
    "IMG000006": (".jpeg", 181, 199, "colour", 3, 55, "M", ("humerus", "upper limb"), "malignant", "other mt", "oblique"),
    "IMG000007": (".jpeg", 137, 178, "grey", 3, 40, "F", ("femur", "lower limb"), "malignant", "osteosarcoma", "lateral"),
    "IMG000008": (".jpg", 153, 311, "grey", 1, 66, "F", ("femur", "lower limb"), "benign", "giant cell tumor", "frontal"),
    "IMG000009": (".jpeg", 140, 180, "grey", 1, 20, "M", ("tibia", "lower limb"), None, None, "oblique"),
}
COPY_OF = {"IMG000005": "IMG000001"}        # the same JPEG bytes
NEAR_COPY_OF = {"IMG000007": "IMG000003"}   # shrunk, brightened, noisy, re-encoded


def square(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


# LabelMe shapes: (shape_type, points as [x, y]); rectangle corners deliberately out of order
SHAPES = {
    "IMG000001": [("rectangle", [[60.7, 80.2], [20.3, 30.9]]), ("polygon", square(25, 35, 55, 75))],
    "IMG000002": [("polygon", [[10, 10], [30, 10], [10, 30]])],
    "IMG000003": [("rectangle", [[100.0, 20.5], [40.2, 120.0]])],
    "IMG000005": [("rectangle", [[60.7, 80.2], [20.3, 30.9]]), ("polygon", square(25, 35, 55, 75))],
    "IMG000006": [("rectangle", [[10, 10], [50, 40]]), ("polygon", square(12, 12, 48, 38)),
                  ("rectangle", [[120.5, 150.5], [90, 100]]), ("polygon", square(95, 105, 115, 145))],
    "IMG000007": [("rectangle", [[40.2, 120.0], [100.0, 20.5]]), ("polygon", square(50, 30, 90, 110))],
    "IMG000008": [("rectangle", [[40.4, 60.0], [-0.5, 5.2]]), ("polygon", square(0, 10, 35, 55))],
}
# the box each annotation gives (x0, y0, x1, y1; x1, y1 exclusive), worked by hand from SHAPES
BOXES = {"IMG000001": (20, 30, 61, 81), "IMG000002": (10, 10, 31, 31), "IMG000003": (40, 20, 100, 120),
         "IMG000005": (20, 30, 61, 81), "IMG000006": (10, 10, 121, 151), "IMG000007": (40, 20, 100, 120),
         "IMG000008": (0, 5, 41, 60)}
# lesion pixels of each mask: a square polygon covers its corners' columns and rows inclusive; the right triangle
# with legs of 20 covers x + y <= 40 (x, y >= 10): 21 + 20 + ... + 1 = 231 pixels. IMG000003 has no polygon.
MASK_PIXELS = {"IMG000001": 31 * 41, "IMG000002": 231, "IMG000005": 31 * 41, "IMG000006": 37 * 27 + 21 * 41,
               "IMG000007": 41 * 81, "IMG000008": 36 * 46}
PATIENTS = {"IMG000001": "btxrd-IMG000001", "IMG000002": "btxrd-IMG000001", "IMG000005": "btxrd-IMG000001",
            "IMG000003": "btxrd-IMG000003", "IMG000007": "btxrd-IMG000003", "IMG000006": "btxrd-IMG000006",
            "IMG000008": "btxrd-IMG000008"}
NESTED_COPIES = ("IMG000001", "IMG000003")  # byte-identical in Annotations/Annotations/
NESTED_ONLY = ("IMG000008",)                # found only in Annotations/Annotations/


def radiograph(seed: int, width: int, height: int) -> np.ndarray:
    """uint8 stand-in radiograph: a bright bone band over soft tissue with smooth random texture."""
    rng = np.random.default_rng(seed)
    texture = ndimage.gaussian_filter(rng.standard_normal((height, width)), sigma=6)
    texture *= 40 / texture.std()
    columns = np.arange(width)
    centre, half = rng.uniform(0.35, 0.65) * width, rng.uniform(0.12, 0.2) * width
    bone = 90 * (np.abs(columns - centre) < half)
    return np.clip(70 + bone[None, :] + texture, 0, 255).astype(np.uint8)


def jpeg_bytes(pixels: np.ndarray, colour: str, quality: int = 92) -> bytes:
    from PIL import Image

    if colour == "grey":
        image = Image.fromarray(pixels, mode="L")
    elif colour == "rgb-grey":
        image = Image.fromarray(np.stack([pixels] * 3, axis=-1), mode="RGB")
    else:  # a warm tint: the channels differ, so the importer must compute luma
        tint = np.stack([pixels, (pixels * 0.9).astype(np.uint8), (pixels * 0.75).astype(np.uint8)], axis=-1)
        image = Image.fromarray(tint, mode="RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def labelme(stem: str, suffix: str, width: int, height: int) -> str:
    shapes = [{"label": ROWS[stem][9], "points": points, "group_id": None, "description": "",
               "shape_type": kind, "flags": {}} for kind, points in SHAPES[stem]]
    return json.dumps({"version": "5.1.1", "flags": {}, "shapes": shapes, "imagePath": f"..\\images\\{stem}{suffix}",
                       "imageData": None, "imageHeight": height, "imageWidth": width}, indent=2)


def table_row(stem: str) -> list:
    suffix, _, _, _, center, age, gender, sites, diagnosis, subtype, view = ROWS[stem]
    flags = set(sites) | {view} | ({"tumor", diagnosis, subtype} if diagnosis else set())
    return [f"{stem}{suffix}", center, age, gender] + [int(name in flags) for name in COLUMNS[4:]]


def write_table(path: Path, rows: list, columns=COLUMNS) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Sheet1"
    sheet.append(list(columns))
    for row in rows:
        sheet.append(row)
    workbook.save(path)


def write_miniature(root) -> Path:
    """Write the miniature under ``root/BTXRD`` and return that folder."""
    folder = Path(root) / "BTXRD"
    (folder / "images").mkdir(parents=True)
    (folder / "Annotations" / "Annotations").mkdir(parents=True)
    for stem, (suffix, width, height, colour, *_) in ROWS.items():
        seed = int(stem[3:])
        image = folder / "images" / f"{stem}{suffix}"
        if stem in COPY_OF:
            shutil.copyfile(folder / "images" / f"{COPY_OF[stem]}{ROWS[COPY_OF[stem]][0]}", image)
        elif stem in NEAR_COPY_OF:
            original = ROWS[NEAR_COPY_OF[stem]]
            pixels = resize(radiograph(int(NEAR_COPY_OF[stem][3:]), *original[1:3]), (height, width),
                            preserve_range=True, anti_aliasing=True)
            noise = np.random.default_rng(seed).normal(0, 1.5, pixels.shape)
            image.write_bytes(jpeg_bytes(np.clip(pixels + 6.0 + noise, 0, 255).astype(np.uint8), colour, 85))
        else:
            image.write_bytes(jpeg_bytes(radiograph(seed, width, height), colour))
        if stem in SHAPES:
            target = folder / "Annotations" / ("Annotations" if stem in NESTED_ONLY else "") / f"{stem}.json"
            target.write_text(labelme(stem, suffix, width, height), encoding="utf-8")
    for stem in NESTED_COPIES:
        shutil.copyfile(folder / "Annotations" / f"{stem}.json", folder / "Annotations" / "Annotations" / f"{stem}.json")
    write_table(folder / "dataset.xlsx", [table_row(stem) for stem in ROWS])
    (folder / "~$dataset.xlsx").write_bytes(b"\x0bowner\x00lock")  # what Excel leaves beside an open workbook
    return folder
