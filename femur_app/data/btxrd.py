"""Import BTXRD, the public bone-tumour radiograph set, into the project's folder format.

BTXRD (Yao et al., Scientific Data 2025; figshare 10.6084/m9.figshare.27865398; CC BY-NC-ND, so it is
downloaded by the user and never shipped) holds 3,746 radiographs from three centres. A copy is read as::

    BTXRD/dataset.xlsx               first sheet: one row per image, the 37 columns of COLUMNS
    BTXRD/images/<stem>.jpeg|.jpg     matched to a row on the stem (image_id's name without its suffix)
    BTXRD/Annotations/<stem>.json     LabelMe 5.x, tumour images only: "rectangle" and "polygon" shapes

A nested duplicate ``Annotations/Annotations/`` is merged (a file found in both must be byte-identical), and
hidden files and Office lock files (``~$...``) are ignored. Anything else that differs from this layout - a
missing column, a value that is not 0/1, a tumour row with neither or both of benign/malignant, an image
without a row, a tumour image without an annotation, an annotation without an image - raises ``BTXRDError``
(a ``DataError``) naming the file and what was expected.

``import_btxrd`` writes the tumour images of the selected site, centres and views (benign versus malignant):

- ``images/<stem>.png``: the pixels as decoded from the JPEG, converted to one grey channel and stored
  losslessly. An RGB file whose three channels are equal keeps them unchanged; a true-colour file becomes
  ITU-R 601 luma, round(0.299 R + 0.587 G + 0.114 B) (what Pillow's ``convert("L")`` computes, within one grey
  level). Nothing else is changed: no crop, resize, rotation or intensity scaling.
- ``masks/<stem>.png``: 255 on the union of the annotation's polygons, rasterised with scikit-image as
  LabelMe draws them (pixels whose centre lies inside, plus the outline). No polygon, no mask.
- ``labels.csv``: path,label,patient_id,x0,y0,x1,y1,mask_path (``femur_app.data.loaders``), then the
  informative columns center,sites,views,subtype and both groupings, standin_patient and coarse_patient
  (``patient_id`` is the one ``grouping`` chose). The box is the union of the annotation's rectangles with
  their corners put in order (x0 = floor of the smallest x, x1 = ceil of the largest, clipped to the image);
  without a rectangle, the polygons' mask gives it.
- ``import_summary.json`` and ``import_summary.md``: counts by class, centre, site, view and subtype, every
  excluded image and why, and how the stand-in patients were formed.

BTXRD has no patient identifier, and cross-validation folds must never split a patient, so images are grouped
into stand-in patients conservatively (``group_patients``): consecutive image ids sharing centre, age, gender,
sites and diagnosis; identical pixels (SHA-256); and near duplicates (a 256-bit difference hash within
``MAX_HASH_DISTANCE`` bits). Merging two patients only costs a little data per fold; splitting one leaks. The
stand-in rule can still split a patient: a frontal and a lateral view may carry different site flags, or lie apart
in id order, and a second view is never caught by an image hash. A coarse grouping (``coarse_patients``) is
therefore written too, as a sensitivity analysis: every image of one centre, age, gender and diagnosis (benign or
malignant) is one group - no adjacency, no sites, no subtype - joined with the same duplicate rules. It merges
many different patients (a few hundred groups for BTXRD's femur images), but no two views of one patient can fall
into two of its groups unless the table disagrees with itself about the patient's age, gender or diagnosis. Train
on either (``--grouping``); the report of a run on an import compares the two (``femur_app.evaluation.btxrd``).

Giant-cell tumour of bone is labelled benign by BTXRD, but the WHO classification of bone tumours (5th edition,
2020) places it in the *intermediate (locally aggressive, rarely metastasising)* category, between benign and
malignant. ``giant_cell`` chooses what the import does with it: ``keep`` (benign, as BTXRD labels it; the
default), ``exclude`` (left out, listed with its reason) or ``malignant`` (relabelled, for a question of the kind
"needs an oncological work-up").
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import re
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from femur_app.data import box_of, limits
from femur_app.data.folder import check_output_folder
from femur_app.errors import DataError, MissingDependency

COLUMNS = ("image_id", "center", "age", "gender", "hand", "ulna", "radius", "humerus", "foot", "tibia", "fibula",
           "femur", "hip bone", "ankle-joint", "knee-joint", "hip-joint", "wrist-joint", "elbow-joint",
           "shoulder-joint", "tumor", "benign", "malignant", "osteochondroma", "multiple osteochondromas",
           "simple bone cyst", "giant cell tumor", "osteofibroma", "synovial osteochondroma", "other bt",
           "osteosarcoma", "other mt", "upper limb", "lower limb", "pelvis", "frontal", "lateral", "oblique")
SITE_COLUMNS = COLUMNS[4:19] + ("upper limb", "lower limb", "pelvis")  # bones and joints, then body regions
SUBTYPE_COLUMNS = COLUMNS[22:31]
VIEW_COLUMNS = ("frontal", "lateral", "oblique")
FLAG_COLUMNS = COLUMNS[4:]  # every column after gender holds 0 or 1
IMAGE_SUFFIXES = (".jpeg", ".jpg")
HASH_SIZE = 16            # the difference hash compares 16 x 17 cells: 256 bits
MAX_HASH_DISTANCE = 25    # about 10 % of the bits; chosen by reasoning, not tuned on BTXRD (see the summary)
MODALITY = "radiograph (X-ray)"
NORMAL, CENTRE, SITE, VIEW = ("normal radiograph (no tumour)", "centre not selected", "site not selected",
                              "view not selected")
GIANT_CELL = "giant cell tumor"
GIANT_CELL_CHOICES = ("keep", "exclude", "malignant")
GIANT_CELL_EXCLUDED = "giant-cell tumour (WHO intermediate) excluded"
GIANT_CELL_WHO = "intermediate (locally aggressive, rarely metastasising)"  # WHO bone tumours, 5th ed. (2020)
GROUPINGS = ("standin", "coarse")


class BTXRDError(DataError):
    """A BTXRD copy that differs from the published layout; the message names the file and what was expected."""


# --- the table -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One row of dataset.xlsx. ``line`` is its row number in the sheet (the header is line 1)."""

    stem: str
    line: int
    center: int
    age: str
    gender: str
    flags: frozenset  # the names of the 0/1 columns that hold 1

    @property
    def label(self):
        """'benign', 'malignant', or None for a normal radiograph."""
        return "malignant" if "malignant" in self.flags else "benign" if "benign" in self.flags else None

    sites = property(lambda self: tuple(c for c in SITE_COLUMNS if c in self.flags))
    subtypes = property(lambda self: tuple(c for c in SUBTYPE_COLUMNS if c in self.flags))
    views = property(lambda self: tuple(c for c in VIEW_COLUMNS if c in self.flags))

    def patient_key(self):
        """What consecutive images of one patient share: centre, age, gender, sites and diagnosis."""
        return self.center, self.age, self.gender, self.sites, self.label, self.subtypes

    def coarse_key(self):
        """What every image of one patient shares whatever its view: centre, age, gender and benign/malignant."""
        return self.center, self.age, self.gender, self.label

    def relabelled_malignant(self) -> Row:
        """This row with its benign flag turned into malignant (the giant-cell switch)."""
        return dataclasses.replace(self, flags=(self.flags - {"benign"}) | {"malignant"})


def _flag(value, where: str, column: str) -> bool:
    if value in (0, 1) or (isinstance(value, str) and value.strip() in ("0", "1")):
        return bool(int(value))
    raise BTXRDError(f"{where}: column {column!r} holds {value!r} (expected 0 or 1)")


def read_table(path) -> list[Row]:
    """The rows of the first sheet of ``dataset.xlsx``, checked (columns, 0/1 flags, one diagnosis per tumour)."""
    try:
        import openpyxl
    except ImportError as exc:
        raise MissingDependency(f"{path}: reading dataset.xlsx needs openpyxl: pip install minicnn[btxrd]") from exc
    path = Path(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BTXRDError(f"{path}: unreadable spreadsheet, {type(exc).__name__}: {exc} "
                         "(expected the Excel file dataset.xlsx of BTXRD)") from exc
    try:
        cells = [list(values) for values in workbook.worksheets[0].iter_rows(values_only=True)]
    finally:
        workbook.close()
    if not cells:
        raise BTXRDError(f"{path}: the first sheet is empty (expected a header row with the BTXRD columns)")
    header = [str(name).strip() if name is not None else "" for name in cells[0]]
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise BTXRDError(f"{path}: missing column(s) {', '.join(repr(m) for m in missing)} "
                         f"(expected the 37 BTXRD columns: {', '.join(COLUMNS)})")
    index = {name: header.index(name) for name in COLUMNS}
    rows, seen = [], {}
    for line, values in enumerate(cells[1:], start=2):
        if all(value is None or str(value).strip() == "" for value in values):
            continue  # Excel keeps formatted but empty rows
        where = f"{path} row {line}"
        cell = {name: values[i] if i < len(values) else None for name, i in index.items()}
        stem = Path(str(cell["image_id"] or "").strip()).stem
        if not stem:
            raise BTXRDError(f"{where}: empty image_id (expected a file name such as IMG000001.jpeg)")
        if stem in seen:
            raise BTXRDError(f"{where}: image_id {stem} already on row {seen[stem]} (expected each image once)")
        seen[stem] = line
        try:
            center = int(str(cell["center"]).strip())
        except ValueError:
            raise BTXRDError(f"{where}: center {cell['center']!r} (expected a centre number 1, 2 or 3)") from None
        flags = frozenset(name for name in FLAG_COLUMNS if _flag(cell[name], where, name))
        row = Row(stem, line, center, str(cell["age"]).strip(), str(cell["gender"]).strip(), flags)
        diagnoses = [name for name in ("benign", "malignant") if name in flags]
        if "tumor" in flags and len(diagnoses) != 1:
            raise BTXRDError(f"{where} ({stem}): tumor = 1 with benign/malignant flags {diagnoses or 'none'} "
                             "(expected exactly one of benign, malignant)")
        if "tumor" not in flags and diagnoses:
            raise BTXRDError(f"{where} ({stem}): tumor = 0 but {diagnoses[0]} = 1 "
                             "(expected benign and malignant to be 0 on a normal radiograph)")
        rows.append(row)
    return rows


# --- the files -----------------------------------------------------------------------------------------------

def _ignored(path: Path) -> bool:
    return path.name.startswith((".", "~$"))


def find_source(src) -> Path:
    """The BTXRD folder: ``src`` itself or ``src/BTXRD``, whichever holds dataset.xlsx."""
    src = Path(src)
    for folder in (src, src / "BTXRD"):
        if (folder / "dataset.xlsx").is_file():
            return folder
    if not src.is_dir():
        raise BTXRDError(f"{src}: folder not found (expected the unpacked BTXRD folder)")
    raise BTXRDError(f"{src / 'dataset.xlsx'}: not found (expected dataset.xlsx, images/ and Annotations/ "
                     "in the BTXRD folder)")


def list_images(folder: Path) -> dict:
    """{stem: path} of ``folder/images``; a second file with the same stem or a non-JPEG file is an error."""
    images = {}
    if not (folder / "images").is_dir():
        raise BTXRDError(f"{folder / 'images'}: folder not found (expected the BTXRD radiographs there)")
    for path in sorted((folder / "images").iterdir()):
        if _ignored(path):
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            raise BTXRDError(f"{path}: unexpected entry in images/ (expected only .jpeg and .jpg files)")
        if path.stem in images:
            raise BTXRDError(f"{path}: a second image with stem {path.stem} beside {images[path.stem].name} "
                             "(expected one file per image_id)")
        images[path.stem] = path
    return images


def list_annotations(folder: Path) -> tuple[dict, dict]:
    """({stem: path} of the LabelMe files, notes on the nested duplicate folder).

    ``Annotations/Annotations/`` (found in some archives) is read too: a file present in both folders must be
    byte-identical and is counted once; one found only in the nested folder is used from there.
    """
    top, nested = folder / "Annotations", folder / "Annotations" / "Annotations"
    if not top.is_dir():
        raise BTXRDError(f"{top}: folder not found (expected the LabelMe annotations of the tumour images)")
    annotations, notes = {}, {"nested_duplicates_ignored": 0, "used_from_nested_folder": []}
    for directory in (top, nested) if nested.is_dir() else (top,):
        for path in sorted(directory.iterdir()):
            if _ignored(path) or path == nested:
                continue
            if path.suffix.lower() != ".json" or not path.is_file():
                raise BTXRDError(f"{path}: unexpected entry in {directory.name}/ (expected only LabelMe .json files)")
            if path.stem not in annotations:
                annotations[path.stem] = path
                if directory == nested:
                    notes["used_from_nested_folder"].append(path.stem)
            elif path.read_bytes() == annotations[path.stem].read_bytes():
                notes["nested_duplicates_ignored"] += 1
            else:
                raise BTXRDError(f"{path}: differs from {annotations[path.stem]} (expected the nested "
                                 "Annotations/Annotations/ folder to duplicate Annotations/ exactly)")
    return annotations, notes


def check_pairing(rows, images: dict, annotations: dict, table: Path) -> None:
    """Every row has its image, every image its row, every tumour row its annotation and nothing else has one."""
    by_stem = {row.stem: row for row in rows}
    for row in rows:
        if row.stem not in images:
            raise BTXRDError(f"{table} row {row.line}: image {row.stem} not found in images/ "
                             "(expected a .jpeg or .jpg file with that stem)")
        if row.label is not None and row.stem not in annotations:
            raise BTXRDError(f"{images[row.stem]}: {row.label} tumour image without annotation "
                             f"(expected Annotations/{row.stem}.json)")
    for stem, path in images.items():
        if stem not in by_stem:
            raise BTXRDError(f"{path}: image without a row in {table.name} (expected an image_id {stem})")
    for stem, path in annotations.items():
        if stem not in images:
            raise BTXRDError(f"{path}: annotation without image (expected images/{stem}.jpeg or .jpg)")
        if by_stem[stem].label is None:
            raise BTXRDError(f"{path}: annotation of a normal radiograph ({table.name} row {by_stem[stem].line} "
                             "has tumor = 0; expected annotations for tumour images only)")


# --- one image -----------------------------------------------------------------------------------------------

def read_grey(path) -> tuple[np.ndarray, str]:
    """(uint8 H x W pixels, how they were obtained: 'grey', 'rgb-equal-channels' or 'rgb-to-luma')."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            mode, array = image.mode, np.asarray(image)
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ... for damaged files
        raise BTXRDError(f"{path}: unreadable or truncated image, {type(exc).__name__}: {exc} "
                         "(expected a JPEG radiograph)") from exc
    if mode == "L":
        return array, "grey"
    if mode != "RGB":
        raise BTXRDError(f"{path}: JPEG in Pillow mode {mode} (expected grey (L) or RGB)")
    if np.all(array == array[..., :1]):
        return np.ascontiguousarray(array[..., 0]), "rgb-equal-channels"
    luma = np.rint(array.astype(np.float64) @ np.array([0.299, 0.587, 0.114]))
    return luma.astype(np.uint8), "rgb-to-luma"


@dataclass(frozen=True)
class Annotation:
    """A LabelMe file read into pixels: the ordered box, the polygons' mask (or None) and what it held."""

    box: tuple[int, int, int, int]
    mask: np.ndarray | None
    n_rectangles: int
    n_polygons: int
    clipped: bool  # some point lay outside the image and was clipped to it


def _short(value, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters for a one-line message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _points(shape: dict, path, k: int, n_min: int) -> np.ndarray:
    """shapes[k].points as an (n, 2) float64 array; BTXRDError naming the file and the field unless they are at least
    ``n_min`` pairs of finite numbers (text, nested lists, booleans and nulls included)."""
    raw = shape.get("points", [])
    numbers = isinstance(raw, list) and all(
        isinstance(p, list) and all(type(v) in (int, float) for v in p) for p in raw)
    points = np.asarray(raw, dtype=np.float64) if numbers and raw else np.zeros((0, 2))
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < n_min or not np.all(np.isfinite(points)):
        raise BTXRDError(f"{path}: shapes[{k}].points ({shape.get('shape_type')}) is {_short(raw)} "
                         f"(expected at least {n_min} [x, y] pairs of numbers)")
    return points


def read_annotation(path, image_shape) -> Annotation:
    """The box and mask of one LabelMe file for an image of ``image_shape`` (H, W)."""
    from skimage.draw import polygon, polygon_perimeter

    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        shapes, height, width = document["shapes"], int(document["imageHeight"]), int(document["imageWidth"])
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        raise BTXRDError(f"{path}: not a LabelMe annotation, {type(exc).__name__}: {exc} "
                         "(expected JSON with shapes, imageHeight and imageWidth)") from exc
    H, W = image_shape
    if (height, width) != (H, W):
        raise BTXRDError(f"{path}: annotates a {width}x{height} (WxH) image but its image is {W}x{H} "
                         "(expected the same size)")
    if not isinstance(shapes, list):
        raise BTXRDError(f"{path}: shapes is {_short(shapes)} (expected a list of LabelMe shapes)")
    mask, rectangles, n_polygons, clipped = np.zeros((H, W), bool), [], 0, False
    for k, shape in enumerate(shapes):
        if not isinstance(shape, dict):
            raise BTXRDError(f"{path}: shapes[{k}] is {_short(shape)} (expected a LabelMe shape: an object with "
                             "shape_type and points)")
        kind = shape.get("shape_type")
        if kind == "rectangle":
            points = _points(shape, path, k, 2)
        elif kind == "polygon":
            points = _points(shape, path, k, 3)
        else:
            raise BTXRDError(f"{path}: shapes[{k}].shape_type is {_short(kind)} (expected rectangle or polygon)")
        clipped |= bool(np.any(points < 0) or np.any(points[:, 0] > W - 1) or np.any(points[:, 1] > H - 1))
        if kind == "rectangle":
            (x_lo, y_lo), (x_hi, y_hi) = points.min(axis=0), points.max(axis=0)
            box = (max(0, math.floor(x_lo)), max(0, math.floor(y_lo)), min(W, math.ceil(x_hi)), min(H, math.ceil(y_hi)))
            if not (box[0] < box[2] and box[1] < box[3]):
                raise BTXRDError(f"{path}: rectangle {k} with corners {points.tolist()} is empty inside the "
                                 f"{W}x{H} image (expected a lesion box of at least one pixel)")
            rectangles.append(box)
        else:
            n_polygons += 1
            for draw in (polygon, polygon_perimeter):
                rr, cc = draw(points[:, 1], points[:, 0], shape=(H, W))
                mask[rr, cc] = True
    if not rectangles and not n_polygons:
        raise BTXRDError(f"{path}: no shapes (expected a rectangle or polygon around each lesion)")
    if rectangles:
        box = (min(b[0] for b in rectangles), min(b[1] for b in rectangles),
               max(b[2] for b in rectangles), max(b[3] for b in rectangles))
    else:
        if not mask.any():
            raise BTXRDError(f"{path}: its polygons cover no pixel of the {W}x{H} image (expected a lesion outline)")
        box = box_of(mask)
    return Annotation(box, mask if n_polygons else None, len(rectangles), n_polygons, clipped)


def dhash(pixels: np.ndarray, size: int = HASH_SIZE) -> np.ndarray:
    """Difference hash: ``size * size`` bools, whether each cell of the image shrunk to size x (size + 1) is
    darker than its right neighbour. Insensitive to brightness, contrast and scale; flips with content."""
    from skimage.transform import resize

    small = resize(pixels.astype(np.float64), (size, size + 1), anti_aliasing=True, preserve_range=True)
    return (small[:, 1:] > small[:, :-1]).ravel()


def content_hash(pixels: np.ndarray) -> str:
    """SHA-256 of the grey pixels and their shape: equal for exact duplicates whatever the file bytes."""
    return hashlib.sha256(repr(pixels.shape).encode() + np.ascontiguousarray(pixels).tobytes()).hexdigest()


def convert_one(row: Row, image_path: Path, annotation_path: Path, out: Path) -> dict:
    """Read, check and write one tumour image and its mask; return what the summary and grouping need."""
    from minicnn.serialize import write_atomic
    import imageio.v3 as iio

    pixels, grey_from = read_grey(image_path)
    annotation = read_annotation(annotation_path, pixels.shape)
    with write_atomic(out / "images" / f"{row.stem}.png") as f:
        iio.imwrite(f, pixels, extension=".png")
    if annotation.mask is not None:
        with write_atomic(out / "masks" / f"{row.stem}.png") as f:
            iio.imwrite(f, annotation.mask.astype(np.uint8) * 255, extension=".png")
    return {"stem": row.stem, "shape": pixels.shape, "box": annotation.box, "has_mask": annotation.mask is not None,
            "n_rectangles": annotation.n_rectangles, "n_polygons": annotation.n_polygons,
            "clipped": annotation.clipped, "grey_from": grey_from, "sha256": content_hash(pixels),
            "dhash": dhash(pixels)}


# --- stand-in patients ---------------------------------------------------------------------------------------

def _id_order(stem: str):
    digits = re.findall(r"\d+", stem)
    return (int(digits[-1]) if digits else -1, stem)


class Groups:
    """Union-find over image stems; a group is named after its earliest image id (``_id_order``)."""

    def __init__(self, stems):
        self.parent = {stem: stem for stem in stems}

    def root(self, stem):
        while self.parent[stem] != stem:
            self.parent[stem] = self.parent[self.parent[stem]]
            stem = self.parent[stem]
        return stem

    def join(self, a, b):
        ra, rb = self.root(a), self.root(b)
        if ra != rb:  # the earlier image id stays the root, so a group is named after its first image
            self.parent[max(ra, rb, key=_id_order)] = min(ra, rb, key=_id_order)


def images_per_group(ids: dict) -> dict:
    """{number of images: how many groups hold that many} of a {stem: group id} mapping."""
    return {str(n): k for n, k in sorted(Counter(Counter(ids.values()).values()).items())}


def group_patients(rows, converted, max_distance: int = MAX_HASH_DISTANCE) -> tuple[dict, dict]:
    """({stem: patient_id} for the converted images, how the groups were formed).

    Three rules join two images into one stand-in patient; the groups are their transitive closure:
    1. neighbours in image-id order over the whole table with the same ``Row.patient_key``;
    2. identical grey pixels (``content_hash``);
    3. difference hashes at most ``max_distance`` bits apart (Hamming distance).
    A patient is named after its first image: ``btxrd-<stem>``.
    """
    stems = [record["stem"] for record in converted]
    groups = Groups(row.stem for row in rows)  # rule 1 chains through images left out of the import
    ordered = sorted(rows, key=lambda row: _id_order(row.stem))
    consecutive = [[a.stem, b.stem] for a, b in zip(ordered, ordered[1:]) if a.patient_key() == b.patient_key()]
    for a, b in consecutive:
        groups.join(a, b)
    chosen = set(stems)
    consecutive = [pair for pair in consecutive if chosen & set(pair)]
    by_hash = {}
    exact = []
    for record in converted:
        first = by_hash.setdefault(record["sha256"], record["stem"])
        if first != record["stem"]:
            exact.append([first, record["stem"]])
            groups.join(first, record["stem"])
    bits = np.array([record["dhash"] for record in converted], dtype=np.float32).reshape(len(converted), -1)
    distance = bits @ (1 - bits).T + (1 - bits) @ bits.T  # Hamming distance of every pair
    near = [[stems[i], stems[j], int(distance[i, j])] for i, j in zip(*np.nonzero(distance <= max_distance))
            if i < j and converted[i]["sha256"] != converted[j]["sha256"]]
    for a, b, _ in near:
        groups.join(a, b)
    patients = {stem: f"btxrd-{groups.root(stem)}" for stem in stems}
    notes = {"count": len(set(patients.values())), "images": len(stems),
             "rule": "stand-in patients (BTXRD has no patient identifier): images joined when neighbours in "
                     "image-id order share centre, age, gender, sites and diagnosis, when their grey pixels are "
                     f"identical, or when their {bits.shape[1]}-bit difference hashes differ in at most "
                     f"{max_distance} bits",
             "hash_bits": int(bits.shape[1]), "max_hash_distance": max_distance,
             "consecutive_same_key": consecutive, "exact_duplicates": exact, "near_duplicates": near,
             "images_per_patient": images_per_group(patients)}
    return patients, notes


def coarse_patients(rows, patient_notes: dict) -> tuple[dict, dict]:
    """({stem: group id} for the imported ``rows``, how the groups were formed): the coarse grouping, every image
    of one ``Row.coarse_key`` in one group, joined with the duplicate pairs ``group_patients`` found
    (``patient_notes``). A group is named ``btxrd-coarse-<first stem>``."""
    groups = Groups(row.stem for row in rows)
    first_of = {}
    for row in sorted(rows, key=lambda row: _id_order(row.stem)):
        groups.join(first_of.setdefault(row.coarse_key(), row.stem), row.stem)
    for a, b, *_ in patient_notes["exact_duplicates"] + patient_notes["near_duplicates"]:
        groups.join(a, b)
    patients = {row.stem: f"btxrd-coarse-{groups.root(row.stem)}" for row in rows}
    return patients, {
        "count": len(set(patients.values())), "images": len(rows),
        "rule": "coarse groups (a sensitivity analysis): every image of one centre, age, gender and diagnosis "
                "(benign or malignant), whatever its id, sites, view or subtype, joined with the stand-in rule's "
                "exact and near duplicates",
        "images_per_patient": images_per_group(patients)}


# --- selection and the whole import --------------------------------------------------------------------------

def site_column(name: str) -> str | None:
    """The site column named by ``name`` (case, spaces, '-' and '_' ignored), None for 'all'."""
    if name.strip().lower() == "all":
        return None
    squash = re.sub(r"[\s_-]+", "", name.lower())
    for column in SITE_COLUMNS:
        if re.sub(r"[\s_-]+", "", column) == squash:
            return column
    raise BTXRDError(f"--site: unknown site {name!r} (expected all or one of: {', '.join(SITE_COLUMNS)})")


def exclusion(row: Row, site: str | None, centers, views, giant_cell: str = "keep") -> str | None:
    """Why ``row`` is left out (the first reason that applies), or None when it is imported."""
    if row.label is None:
        return NORMAL
    if giant_cell == "exclude" and GIANT_CELL in row.flags:
        return GIANT_CELL_EXCLUDED
    if centers is not None and row.center not in centers:
        return CENTRE
    if site is not None and site not in row.flags:
        return SITE
    if views is not None and not set(row.views) & set(views):
        return VIEW
    return None


def import_btxrd(src, out, *, site: str = "femur", centers=None, views=None, force: bool = False,
                 max_hash_distance: int = MAX_HASH_DISTANCE, n_jobs: int = 1, grouping: str = "standin",
                 giant_cell: str = "keep") -> dict:
    """Write the selected tumour images of the BTXRD copy at ``src`` to ``out``; return the summary.

    ``site``: 'all' or a site column (default 'femur'); ``centers``: centre numbers to keep (None: all);
    ``views``: any of frontal, lateral, oblique (None: all, including images without a view flag).
    ``force``: write into a folder that already holds files (never into ``src``); ``n_jobs``: joblib workers.
    ``grouping``: which grouping becomes ``patient_id`` (standin or coarse; both are written);
    ``giant_cell``: keep, exclude or malignant (the module docstring).
    """
    from joblib import Parallel, delayed
    from minicnn.serialize import write_text_atomic

    folder, out = find_source(src), Path(out)
    check_output_folder(out, force, source=src)
    check_output_folder(out, True, source=folder)  # src/BTXRD when src is its parent
    site = site_column(site)
    if grouping not in GROUPINGS:
        raise BTXRDError(f"--grouping: unknown grouping {grouping!r} (expected one of {', '.join(GROUPINGS)})")
    if giant_cell not in GIANT_CELL_CHOICES:
        raise BTXRDError(f"--giant-cell: unknown choice {giant_cell!r} (expected one of "
                         f"{', '.join(GIANT_CELL_CHOICES)})")
    for view in views or ():
        if view not in VIEW_COLUMNS:
            raise BTXRDError(f"--views: unknown view {view!r} (expected some of {', '.join(VIEW_COLUMNS)})")
    table = folder / "dataset.xlsx"
    rows = read_table(table)
    if giant_cell == "malignant":
        rows = [row.relabelled_malignant() if GIANT_CELL in row.flags else row for row in rows]
    images = list_images(folder)
    annotations, annotation_notes = list_annotations(folder)
    check_pairing(rows, images, annotations, table)

    excluded, selected = {}, []
    for row in rows:
        reason = exclusion(row, site, centers, views, giant_cell)
        if reason:
            excluded.setdefault(reason, []).append(row.stem)
        else:
            selected.append(row)
    if not selected:
        counts = ", ".join(f"{len(v)} {k}" for k, v in excluded.items())
        raise BTXRDError(f"{table}: no tumour image matches site={site or 'all'}, centres={centers or 'all'}, "
                         f"views={views or 'all'} ({counts}; expected at least one)")
    converted = Parallel(n_jobs=n_jobs)(
        delayed(convert_one)(row, images[row.stem], annotations[row.stem], out) for row in selected)
    patients, patient_notes = group_patients(rows, converted, max_hash_distance)
    coarse, coarse_notes = coarse_patients(selected, patient_notes)
    chosen = patients if grouping == "standin" else coarse

    columns = ("path", "label", "patient_id", "x0", "y0", "x1", "y1", "mask_path", "center", "sites", "views",
               "subtype", "standin_patient", "coarse_patient")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for row, record in zip(selected, converted):
        mask_path = f"masks/{row.stem}.png" if record["has_mask"] else ""
        writer.writerow((f"images/{row.stem}.png", row.label, chosen[row.stem], *record["box"], mask_path,
                         row.center, ";".join(row.sites), ";".join(row.views), ";".join(row.subtypes),
                         patients[row.stem], coarse[row.stem]))
    write_text_atomic(out / "labels.csv", text.getvalue())

    summary = make_summary(folder, out, rows, selected, converted, excluded, patient_notes, annotation_notes,
                           site=site, centers=centers, views=views)
    summary["grouping"] = {"patient_id": grouping, "coarse": coarse_notes}
    summary["giant_cell_tumour"] = {
        "who_class": GIANT_CELL_WHO, "btxrd_label": "benign", "choice": giant_cell,
        "images": sum(GIANT_CELL in row.flags for row in rows if exclusion(row, site, centers, views) is None)}
    write_text_atomic(out / "import_summary.json", json.dumps(summary, indent=1) + "\n")
    write_text_atomic(out / "import_summary.md", summary_markdown(summary))
    return summary


def make_summary(folder, out, rows, selected, converted, excluded, patient_notes, annotation_notes, *,
                 site, centers, views) -> dict:
    """The import summary as JSON-ready data (see the module docstring)."""
    def by(key_of):
        table = {}
        for row in selected:
            for key in key_of(row):
                table.setdefault(str(key), Counter())[row.label] += 1
        return {key: dict(sorted(counts.items())) for key, counts in sorted(table.items())}

    def ids(test):
        return [record["stem"] for record in converted if test(record)]

    ignored = sorted(str(p.relative_to(folder)) for d in (folder, folder / "images", folder / "Annotations")
                     if d.is_dir() for p in d.iterdir() if _ignored(p))
    return {
        "dataset": "BTXRD (Yao et al., Scientific Data 2025; CC BY-NC-ND 4.0)", "modality": MODALITY,
        "source": str(folder), "out": str(out),
        "selection": {"site": site or "all", "centers": sorted(centers) if centers else "all",
                      "views": list(views) if views else "all"},
        "table_rows": len(rows), "images": len(selected),
        "by_class": dict(sorted(Counter(row.label for row in selected).items())),
        "by_centre": by(lambda row: [row.center]), "by_site": by(lambda row: row.sites),
        "by_view": by(lambda row: row.views or ["none"]), "by_subtype": by(lambda row: row.subtypes or ["none"]),
        "excluded": {reason: {"count": len(stems), "image_ids": stems} for reason, stems in excluded.items()},
        "patients": patient_notes,
        "annotations": {**annotation_notes,
                        "box_only_no_mask": ids(lambda r: not r["has_mask"]),
                        "polygon_only_box_from_mask": ids(lambda r: r["n_rectangles"] == 0),
                        "several_lesions": ids(lambda r: max(r["n_rectangles"], r["n_polygons"]) > 1),
                        "points_clipped_to_image": ids(lambda r: r["clipped"])},
        "grey_conversion": {kind: ids(lambda r, kind=kind: r["grey_from"] == kind)
                            for kind in ("grey", "rgb-equal-channels", "rgb-to-luma")},
        "ignored_files": ignored,
        "over_loader_pixel_limit": {"max_pixels": limits.MAX_PIXELS,
                                    "image_ids": ids(lambda r: r["shape"][0] * r["shape"][1] > limits.MAX_PIXELS)},
    }


GIANT_CELL_DONE = {"keep": "kept as benign, as BTXRD labels it", "exclude": "excluded",
                   "malignant": "relabelled malignant"}


def grouping_lines(summary: dict) -> list[str]:
    """The summary's sentences on the coarse grouping and the giant-cell tumours."""
    grouping, giant = summary["grouping"], summary["giant_cell_tumour"]
    coarse = grouping["coarse"]
    return [f"Coarse grouping, the sensitivity analysis (column coarse_patient): {coarse['rule']}; "
            f"{coarse['count']} groups, by number of images: "
            + ", ".join(f"{k} with {n}" for n, k in coarse["images_per_patient"].items())
            + f". labels.csv's patient_id holds the {grouping['patient_id']} grouping (--grouping).", "",
            f"Giant-cell tumour: WHO class {giant['who_class']}, labelled {giant['btxrd_label']} by BTXRD; "
            f"{giant['images']} selected image(s) {GIANT_CELL_DONE[giant['choice']]} (--giant-cell)."]


def summary_markdown(summary: dict) -> str:
    """The summary as a short Markdown page (the JSON file holds every id)."""
    def table(title, counts):
        lines = [f"| {title} | benign | malignant |", "|---|---|---|"]
        lines += [f"| {key} | {c.get('benign', 0)} | {c.get('malignant', 0)} |" for key, c in counts.items()]
        return "\n".join(lines)

    patients, selection = summary["patients"], summary["selection"]
    counts = summary["by_class"]
    text = [f"# BTXRD import: {summary['images']} tumour images ({counts.get('benign', 0)} benign, "
            f"{counts.get('malignant', 0)} malignant), {patients['count']} stand-in patients",
            "", f"Modality: {summary['modality']} - not the MRI of the reproduced paper. Source {summary['source']}; "
            f"site {selection['site']}, centres {selection['centers']}, views {selection['views']}.", "",
            f"Patients: {patients['rule']}. Joined pairs: {len(patients['consecutive_same_key'])} by the "
            f"consecutive-id rule, {len(patients['exact_duplicates'])} exact duplicates, "
            f"{len(patients['near_duplicates'])} near duplicates (the threshold was not tuned on BTXRD: check the "
            "pairs in import_summary.json). Patients by number of images: "
            + ", ".join(f"{k} with {n}" for n, k in patients["images_per_patient"].items()) + ".", "",
            *grouping_lines(summary), "",
            table("centre", summary["by_centre"]), "", table("site (a row may flag several)", summary["by_site"]),
            "", table("view", summary["by_view"]), "", table("subtype", summary["by_subtype"]), "",
            "| excluded | images |", "|---|---|"]
    text += [f"| {reason} | {entry['count']} |" for reason, entry in summary["excluded"].items()]
    notes = summary["annotations"]
    grey = summary["grey_conversion"]
    text += ["", f"Annotations: {len(notes['box_only_no_mask'])} without a polygon (box only, no mask), "
             f"{len(notes['polygon_only_box_from_mask'])} without a rectangle (box from the mask), "
             f"{len(notes['several_lesions'])} with several lesions (box = union), "
             f"{len(notes['points_clipped_to_image'])} with points clipped to the image; "
             f"{notes['nested_duplicates_ignored']} duplicates in Annotations/Annotations/ ignored, "
             f"{len(notes['used_from_nested_folder'])} used from there.",
             f"Grey conversion: {len(grey['grey'])} grey JPEGs, {len(grey['rgb-equal-channels'])} RGB with equal "
             f"channels (kept), {len(grey['rgb-to-luma'])} true colour (to ITU-R 601 luma). Ignored files: "
             f"{', '.join(summary['ignored_files']) or 'none'}.", ""]
    large = summary["over_loader_pixel_limit"]
    if large["image_ids"]:
        text += [f"{len(large['image_ids'])} image(s) have more than {large['max_pixels']:,} pixels, the folder "
                 "loader's default limit (femur_app.data.limits.MAX_PIXELS): raise it to load them. They are "
                 f"written unchanged: {', '.join(large['image_ids'])}.", ""]
    return "\n".join(text)
