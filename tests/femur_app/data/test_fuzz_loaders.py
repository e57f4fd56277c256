"""Property-based fuzzing (hypothesis): random bytes, truncated and bit-flipped files and random labels.csv rows
thrown at the loaders and at minicnn.serialize.load. The only acceptable outcomes are a clean result (finite 2-D
pixels, a list of cases, a dict of arrays) or a DataError / ValueError whose message starts with the file."""
import csv
import io
import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from femur_app.data import DataError
from femur_app.data.loaders import load_folder, read_image
from minicnn import serialize

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402  (only after the skip above)

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
RAMP = (np.add.outer(np.arange(20), np.arange(30)) * 97 % 4096).astype(np.uint16)


def _encoded(array, extension) -> bytes:
    return iio.imwrite("<bytes>", array, extension=extension)


def _npz_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = serialize.save(Path(folder) / "m.npz", {"w": np.arange(6.0).reshape(2, 3), "b": np.ones(4, np.float32)},
                              {"epoch": 2})
        return path.read_bytes()


VALID = {  # suffix -> the bytes of a good file of that kind
    ".png": _encoded(RAMP, ".png"),
    ".jpg": _encoded((RAMP % 256).astype(np.uint8), ".jpg"),
    ".tif": _encoded(RAMP, ".tif"),
    ".tiff": _encoded(RAMP.astype(np.float32) / 7, ".tif"),
    ".dcm": Path(get_testdata_file("MR_small.dcm")).read_bytes(),
}
NPZ = _npz_bytes()


def _damaged(data: bytes, draw) -> bytes:
    """``data`` cut at a random length, with a few random bytes overwritten."""
    data = bytearray(data[: draw(st.integers(0, len(data)))])
    for _ in range(draw(st.integers(0, 4))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def _read_cleanly_or_named(path: Path):
    try:
        pixels, spacing = read_image(path)
    except DataError as error:
        assert str(error).startswith(str(path)), error
        return
    assert pixels.ndim == 2 and pixels.size >= 1 and pixels.dtype in (np.uint16, np.float32)
    assert np.isfinite(pixels).all() and (spacing is None or spacing > 0)


@FUZZ
@given(suffix=st.sampled_from(sorted(VALID) + [".dicom", ".jpeg"]), data=st.binary(max_size=3000))
def test_random_bytes_under_any_image_name(suffix, data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"x{suffix}"
        path.write_bytes(data)
        _read_cleanly_or_named(path)


@FUZZ
@given(suffix=st.sampled_from(sorted(VALID)), data=st.data())
def test_truncated_and_bit_flipped_images(suffix, data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"x{suffix}"
        path.write_bytes(_damaged(VALID[suffix], data.draw))
        _read_cleanly_or_named(path)


def _load_cleanly_or_named(path: Path):
    try:
        state, metadata = serialize.load(path)
    except ValueError as error:
        assert str(error).startswith(f"{path}: "), error
        return
    assert all(isinstance(array, np.ndarray) for array in state.values())
    assert metadata is None or isinstance(metadata, dict)


@FUZZ
@given(data=st.data())
def test_truncated_and_bit_flipped_npz(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.npz"
        path.write_bytes(_damaged(NPZ, data.draw))
        _load_cleanly_or_named(path)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes_as_npz(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.npz"
        path.write_bytes(b"PK\x03\x04" + data if data[:1] == b"\0" else data)  # half of them look like zips
        _load_cleanly_or_named(path)


ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
CELL = {
    "path": st.sampled_from(["img0.png", "img1.png", "img0.dcm", "missing.png", "../img0.png", "/etc/hostname",
                             "sub/../img1.png", "", "flat.png", "loop.png", "folder"]) | ANY_TEXT,
    "label": st.sampled_from(["benign", "Malignant", "0", "1", "", "maybe"]) | ANY_TEXT,
    "patient_id": st.sampled_from(["A", "B", ""]) | ANY_TEXT,
    "box": st.sampled_from(["", "0", "1", "5", "12", "30", "-1", "inf", "nan", "1e400", "2.5"]) | ANY_TEXT,
    "mask_path": st.sampled_from(["", "mask0.png", "img1.png", "/tmp/x.png", "missing.png"]),
}
ROW = st.tuples(CELL["path"], CELL["label"], CELL["patient_id"], CELL["box"], CELL["box"], CELL["box"],
                CELL["box"], CELL["mask_path"], st.lists(ANY_TEXT, max_size=2))


def _labels_csv(rows, quoted: bool) -> str:
    """The table as csv.writer writes it, or, unquoted, cells joined by commas (so commas and quotes break it)."""
    header = ["path", "label", "patient_id", "x0", "y0", "x1", "y1", "mask_path"]
    lines = [header] + [list(row[:8]) + row[8] for row in rows]
    if not quoted:
        return "\n".join(",".join(cells) for cells in lines) + "\n"
    buffer = io.StringIO()
    csv.writer(buffer).writerows(lines)
    return buffer.getvalue()


def _data_folder(folder: Path):
    iio.imwrite(folder / "img0.png", RAMP)
    iio.imwrite(folder / "img1.png", RAMP[::-1])
    iio.imwrite(folder / "flat.png", np.full((20, 30), 7, np.uint8))
    mask = np.zeros((20, 30), np.uint8)
    mask[4:9, 6:12] = 255
    iio.imwrite(folder / "mask0.png", mask)
    (folder / "img0.dcm").write_bytes(VALID[".dcm"])
    (folder / "folder").mkdir()
    (folder / "loop.png").symlink_to(folder / "loop.png")


@FUZZ
@given(rows=st.lists(ROW, max_size=6), quoted=st.booleans(), skip_bad=st.booleans())
def test_random_labels_csv_rows(rows, quoted, skip_bad):
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        _data_folder(folder)
        (folder / "labels.csv").write_text(_labels_csv(rows, quoted), encoding="utf-8")
        try:
            result = load_folder(folder, skip_bad=skip_bad)
        except DataError as error:
            assert str(error).startswith(str(folder)), error
            return
        assert len(result) >= 1 and all(isinstance(case.label, int) for case in result)
        assert len({case.case_id for case in result}) == len(result)  # no case id twice
        for case in result:
            assert case.label in (0, 1) and case.patient_id and np.isfinite(case.image).all()
            assert case.box is None or (0 <= case.box[0] < case.box[2] <= case.image.shape[1]
                                        and 0 <= case.box[1] < case.box[3] <= case.image.shape[0])
        if skip_bad:
            assert all(skip.reason.startswith(str(folder)) for skip in result.skipped)
