"""Folder loaders: real DICOM files shipped with pydicom, images written here, every bad input's message,
skip_bad reporting, and the synth CLI's folder read back exactly."""
import csv
import logging
import re
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from femur_app import synth
from femur_app.data import DataError, SyntheticSet
from femur_app.data.loaders import load_folder, read_image

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402  (only after the skip above)


def _dicom(name):
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"pydicom {pydicom.__version__} does not ship {name}")
    return path


def _write_folder(folder, rows, header=("path", "label", "patient_id", "x0", "y0", "x1", "y1", "mask_path")):
    with open(folder / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def loader_folder(tmp_path):
    """Three 16-bit PNGs (20 x 30, a ramp from 1000, 2000, 3000 along x) and a mask; returns the folder."""
    for i in range(3):
        iio.imwrite(tmp_path / f"img{i}.png", 1000 * (i + 1) + np.tile(np.arange(30, dtype=np.uint16), (20, 1)))
    mask = np.zeros((20, 30), np.uint8)
    mask[5:9, 10:16] = 255
    iio.imwrite(tmp_path / "mask0.png", mask)
    return tmp_path


# --- DICOM files shipped inside pydicom -------------------------------------------------------------------

def test_pydicom_mr_small_loads_with_its_pixels_and_spacing():
    path = _dicom("MR_small.dcm")
    image, spacing = read_image(path)
    expected = pydicom.dcmread(path).pixel_array
    assert image.shape == (64, 64) and image.dtype == np.float32  # signed int16 pixels -> float32
    assert np.array_equal(image, expected.astype(np.float32)) and spacing == pytest.approx(0.3125)


def test_pydicom_ct_small_gets_its_rescale_applied():
    image, _ = read_image(_dicom("CT_small.dcm"))
    raw = pydicom.dcmread(_dicom("CT_small.dcm")).pixel_array
    assert np.array_equal(image, raw.astype(np.float32) - 1024)


@pytest.mark.parametrize("name, problem", [
    ("MR_truncated.dcm", "truncated or corrupt DICOM pixel data"),
    ("rtplan.dcm", "DICOM without pixel data"),
    ("rtdose.dcm", "DICOM with 15 frames; expected a single frame"),
    ("SC_rgb_small_odd.dcm", r"colour DICOM \(RGB\)"),
])
def test_bad_pydicom_files_get_an_error_naming_file_and_problem(name, problem):
    path = _dicom(name)
    with pytest.raises(DataError, match=problem) as info:
        read_image(path)
    assert str(info.value).startswith(str(path))


def test_compressed_dicom_without_its_decoder_says_which_codec_is_missing():
    path = _dicom("MR_small_jpeg_ls_lossless.dcm")
    try:
        pydicom.dcmread(path).pixel_array
    except RuntimeError:
        pass
    else:
        pytest.skip("a JPEG-LS decoder is installed here")
    with pytest.raises(DataError, match=r"compressed with JPEG-LS Lossless Image Compression, and no installed"):
        read_image(path)


def test_a_file_called_dcm_that_is_not_dicom(tmp_path):
    (tmp_path / "x.dcm").write_bytes(b"not a dicom file at all" * 10)
    with pytest.raises(DataError, match=r"x.dcm: is not a DICOM file"):
        read_image(tmp_path / "x.dcm")


def test_missing_pydicom_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydicom", None)  # makes `import pydicom` fail
    with pytest.raises(ImportError, match=r"pip install minicnn\[dicom\]"):
        read_image(_dicom("MR_small.dcm"))


# --- ordinary image files ----------------------------------------------------------------------------------

def test_8_and_16_bit_png_and_tiff_keep_their_values_as_uint16(tmp_path):
    eight = np.arange(20 * 30, dtype=np.uint16).reshape(20, 30) % 256
    sixteen = eight * 257
    iio.imwrite(tmp_path / "a.png", eight.astype(np.uint8))
    iio.imwrite(tmp_path / "b.tif", sixteen)
    for name, expected in (("a.png", eight), ("b.tif", sixteen)):
        image, spacing = read_image(tmp_path / name)
        assert image.dtype == np.uint16 and np.array_equal(image, expected) and spacing is None


def test_grey_saved_as_rgb_is_accepted_but_colour_multiframe_and_damaged_files_are_not(tmp_path):
    grey = np.random.default_rng(0).integers(0, 255, (20, 30), dtype=np.uint8)
    iio.imwrite(tmp_path / "grey_rgb.png", np.stack([grey] * 3, axis=-1))
    assert np.array_equal(read_image(tmp_path / "grey_rgb.png")[0], grey)
    colour = np.stack([grey, grey, 255 - grey], axis=-1)
    iio.imwrite(tmp_path / "colour.png", colour)
    with pytest.raises(DataError, match=r"colour.png: is a colour image \(RGB, shape \(20, 30, 3\)\)"):
        read_image(tmp_path / "colour.png")
    iio.imwrite(tmp_path / "stack.tif", np.zeros((4, 20, 30), np.uint16))
    with pytest.raises(DataError, match=r"stack.tif: has 4 frames"):
        read_image(tmp_path / "stack.tif")
    whole = (tmp_path / "grey_rgb.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"cut.png: unreadable or truncated image"):
        read_image(tmp_path / "cut.png")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"notes.txt: unknown image type '.txt'"):
        read_image(tmp_path / "notes.txt")
    with pytest.raises(DataError, match=r"nothere.png: file not found"):
        read_image(tmp_path / "nothere.png")


# --- labels.csv --------------------------------------------------------------------------------------------

def test_labels_csv_gives_cases_with_boxes_masks_and_patients(loader_folder):
    _write_folder(loader_folder, [
        ("img0.png", "benign", "A", "", "", "", "", "mask0.png"),
        ("img1.png", "Malignant", "A", 1, 2, 11, 12, ""),
        ("img2.png", "0", "B", "", "", "", "", ""),
    ])
    cases = load_folder(loader_folder)
    assert [c.label for c in cases] == [0, 1, 0] and [c.patient_id for c in cases] == ["A", "A", "B"]
    assert [c.case_id for c in cases] == ["img0", "img1", "img2"] and cases.skipped == []
    assert cases[0].box == (10, 5, 16, 9)  # from the mask
    assert cases[0].mask.sum() == 24 and cases[1].mask is None and cases[1].box == (1, 2, 11, 12)
    assert cases[2].box is None and cases[2].image[0, 0] == 3000 and cases[2].source == str(loader_folder / "img2.png")


@pytest.mark.parametrize("row, problem", [
    (("img1.png", "maybe", "A", "", "", "", "", ""), r"line 3 \(img1.png\): unknown label 'maybe'"),
    (("img1.png", "benign", "A", 20, 0, 31, 5, ""), r"line 3 \(img1.png\): box .* outside the 30x20 \(WxH\) image"),
    (("img1.png", "benign", "A", 1, 2, "", "", ""), r"line 3 \(img1.png\): box .* is incomplete"),
    (("img1.png", "benign", "A", 1.5, 2, 4, 5, ""), r"line 3 \(img1.png\): box .* must be whole pixel numbers"),
    (("img0.png", "benign", "B", "", "", "", "", ""), r"line 3 \(img0.png\): duplicate path, already listed on line 2"),
    (("gone.png", "benign", "B", "", "", "", "", ""), r"gone.png: file not found"),
    (("img1.png", "benign", "", "", "", "", "", ""), r"line 3 \(img1.png\): empty patient_id"),
    (("img1.png", "benign", "A", "", "", "", "", "small.png"),
     r"line 3 \(img1.png\): .*small.png: mask is 3x2 \(WxH\) but its image is 30x20"),
    (("img1.png", "benign", "A", "inf", 0, 5, 5, ""), r"line 3 \(img1.png\): box .* must be whole pixel numbers"),
    (("img1.png", "benign", "A", "1e400", 0, 5, 5, ""), r"line 3 \(img1.png\): box .* must be whole pixel numbers"),
    (("img1.png", "benign", "A", "nan", 0, 5, 5, ""), r"line 3 \(img1.png\): box .* must be whole pixel numbers"),
    (("img1.png", "benign", "A", "", "", "", "", "", "extra"),
     r"line 3 \(img1.png\): 9 cells but the header has 8 columns \(expected at most 8; a value holding a comma"),
    (("/etc/hostname", "benign", "A", "", "", "", "", ""),
     r"line 3 \(/etc/hostname\): absolute path '/etc/hostname'; expected a path relative to the data folder"),
    (("sub/../../img1.png", "benign", "A", "", "", "", "", ""),
     r"line 3 \(sub/../../img1.png\): path 'sub/../../img1.png' climbs out of the data folder"),
    (("img1.png", "benign", "A", "", "", "", "", "/tmp/mask.png"), r"line 3 \(img1.png\): absolute path '/tmp/mask.png'"),
    (("img0.tif", "benign", "B", "", "", "", "", ""),
     r"line 3 \(img0.tif\): case id 'img0' is already used by line 2 \(img0.png\); expected one image per case id"),
    (("flat.png", "benign", "B", "", "", "", "", ""),
     r"line 3 \(flat.png\): .*flat.png: every pixel of the 30x20 image is 7: it carries no signal"),
    (("dot.png", "benign", "B", "", "", "", "", ""), r"dot.png: every pixel of the 1x1 image is 9: it carries no signal"),
])
def test_each_bad_row_raises_naming_file_and_problem_or_is_skipped_and_reported(loader_folder, caplog, row, problem):
    iio.imwrite(loader_folder / "small.png", np.ones((2, 3), np.uint8))
    iio.imwrite(loader_folder / "flat.png", np.full((20, 30), 7, np.uint8))
    iio.imwrite(loader_folder / "dot.png", np.full((1, 1), 9, np.uint8))
    _write_folder(loader_folder, [("img0.png", "benign", "A", "", "", "", "", ""), row])
    with pytest.raises(DataError, match=problem):
        load_folder(loader_folder)
    with caplog.at_level(logging.WARNING, logger="femur_app.data"):
        result = load_folder(loader_folder, skip_bad=True)
    assert [c.case_id for c in result] == ["img0"]
    assert len(result.skipped) == 1 and result.skipped[0].path == row[0]
    assert any(rec.getMessage().startswith("skipped ") and row[0] in rec.getMessage() for rec in caplog.records)


def test_a_missing_column_names_the_table_and_the_column(loader_folder):
    _write_folder(loader_folder, [("img0.png", "benign")], header=("path", "label"))
    with pytest.raises(DataError, match=r"labels.csv: missing column\(s\) patient_id; found \['path', 'label'\]"):
        load_folder(loader_folder, skip_bad=True)  # a broken table is never skippable
    _write_folder(loader_folder, [("img0.png", "benign", "A", 1, 2)],
                  header=("path", "label", "patient_id", "x0", "y0"))
    with pytest.raises(DataError, match=r"has box column\(s\) \['x0', 'y0'\] but not all of x0, y0, x1, y1"):
        load_folder(loader_folder)


def test_class_subfolders_without_csv_and_a_folder_of_neither(tmp_path):
    for label in ("benign", "malignant"):
        (tmp_path / label).mkdir()
        iio.imwrite(tmp_path / label / "x.png", np.arange(64, dtype=np.uint8).reshape(8, 8))
    (tmp_path / "benign" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "malignant" / "broken.png").write_bytes(b"\x89PNG")
    with pytest.raises(DataError, match="broken.png: unreadable or truncated image"):
        load_folder(tmp_path)
    cases = load_folder(tmp_path, skip_bad=True)
    assert [(c.case_id, c.patient_id, c.label) for c in cases] == [("benign/x", "benign/x", 0),
                                                                   ("malignant/x", "malignant/x", 1)]
    assert [s.path for s in cases.skipped] == [str(tmp_path / "malignant" / "broken.png")]
    with pytest.raises(DataError, match=r"expected labels.csv, or subfolders benign/ and malignant/"):
        load_folder(tmp_path / "benign")
    with pytest.raises(DataError, match=r"nowhere: not found; expected a data folder"):
        load_folder(tmp_path / "nowhere")


# --- never a silent wrong answer ---------------------------------------------------------------------------

def _ramp(height=20, width=30, start=0):
    return (start + np.add.outer(np.arange(height), np.arange(width))).astype(np.uint16)


def test_float_tiff_with_nan_or_inf_is_refused_naming_the_count_and_skippable(loader_folder):
    pixels = np.linspace(0, 1, 600, dtype=np.float32).reshape(20, 30)
    pixels[3, 4], pixels[5, 6] = np.nan, np.inf
    iio.imwrite(loader_folder / "nan.tif", pixels)
    with pytest.raises(DataError, match=r"nan.tif: 2 of 600 pixels are not finite \(NaN or infinity\); expected finite"):
        read_image(loader_folder / "nan.tif")
    _write_folder(loader_folder, [("img0.png", "benign", "A", "", "", "", "", ""),
                                  ("nan.tif", "malignant", "B", "", "", "", "", "")])
    result = load_folder(loader_folder, skip_bad=True)
    assert [c.case_id for c in result] == ["img0"] and [s.path for s in result.skipped] == ["nan.tif"]
    assert "2 of 600 pixels are not finite" in result.skipped[0].reason


@pytest.mark.filterwarnings("ignore:Invalid value for VR DS")  # pydicom's word on 'NaN' and 'inf'
@pytest.mark.parametrize("slope", ["NaN", "0", "inf"])
def test_dicom_rescale_slope_nan_zero_or_infinite_is_refused(tmp_path, slope):
    ds = pydicom.dcmread(_dicom("MR_small.dcm"))
    ds.RescaleSlope = slope
    ds.save_as(tmp_path / "s.dcm")
    with pytest.raises(DataError, match=r"s.dcm: DICOM RescaleSlope (nan|0.0|inf) and RescaleIntercept 0.0; "
                                        r"expected finite numbers and a non-zero slope"):
        read_image(tmp_path / "s.dcm")


def test_dicom_rescale_slope_2_is_applied_not_ignored(tmp_path):
    ds = pydicom.dcmread(_dicom("MR_small.dcm"))
    ds.RescaleSlope, ds.RescaleIntercept = "2", "-5"
    ds.save_as(tmp_path / "s.dcm")
    image, _ = read_image(tmp_path / "s.dcm")
    assert np.array_equal(image, ds.pixel_array.astype(np.float32) * 2 - 5)


def test_a_latin1_table_names_the_line_of_the_first_bad_byte(loader_folder):
    (loader_folder / "labels.csv").write_bytes("path,label,patient_id\nimg0.png,benign,A\nimg1.png,benign,"
                                               "Jos\u00e9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"labels.csv line 3: byte 0xe9 is not UTF-8 text \(expected a UTF-8 file"):
        load_folder(loader_folder, skip_bad=True)  # a table that cannot be read is never skipped


def test_the_line_after_a_quoted_multi_line_cell_is_counted_right(loader_folder):
    (loader_folder / "labels.csv").write_text('path,label,patient_id\nimg0.png,benign,"two\nlines"\n\n'
                                              'img1.png,maybe,B\n')
    with pytest.raises(DataError, match=r"labels.csv line 5 \(img1.png\): unknown label 'maybe'"):
        load_folder(loader_folder)
    assert load_folder(loader_folder, skip_bad=True)[0].patient_id == "two\nlines"


@pytest.mark.parametrize("text, problem", [
    ('path,label,patient_id\nimg0.png,"benign"x,A\n', r"labels.csv line 2: ',' expected after '\"'"),
    ("path,label,patient_id,label\nimg0.png,benign,A,0\n", r"labels.csv: column\(s\) label appear more than once"),
    ("\n\n", r"labels.csv: is empty; expected a header line path,label,patient_id"),
])
def test_a_broken_table_is_refused_as_a_whole(loader_folder, text, problem):
    (loader_folder / "labels.csv").write_text(text)
    with pytest.raises(DataError, match=problem):
        load_folder(loader_folder, skip_bad=True)


def test_allow_outside_reads_absolute_and_climbing_paths_under_their_written_names(tmp_path):
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    data.mkdir(), elsewhere.mkdir()
    iio.imwrite(elsewhere / "a.png", _ramp())
    iio.imwrite(elsewhere / "b.png", _ramp(start=5))
    _write_folder(data, [("../elsewhere/a.png", "benign", "A"), (str(elsewhere / "b.png"), "malignant", "B")],
                  header=("path", "label", "patient_id"))
    with pytest.raises(DataError, match="climbs out of the data folder"):
        load_folder(data)
    cases = load_folder(data, allow_outside=True)
    assert [c.case_id for c in cases] == ["../elsewhere/a", str(elsewhere / "b")]
    assert cases[1].image[0, 0] == 5


def test_x_png_beside_x_dcm_in_a_class_folder_is_a_duplicate_case_id(tmp_path):
    for label in ("benign", "malignant"):
        (tmp_path / label).mkdir()
        iio.imwrite(tmp_path / label / "x.png", _ramp())
    (tmp_path / "benign" / "x.dcm").write_bytes(open(_dicom("MR_small.dcm"), "rb").read())
    with pytest.raises(DataError, match=r"benign/x.png: case id 'benign/x' is already used by .*benign/x.dcm; "
                                        r"expected one image per case id"):
        load_folder(tmp_path)
    result = load_folder(tmp_path, skip_bad=True)
    assert [c.source for c in result] == [str(tmp_path / "benign" / "x.dcm"), str(tmp_path / "malignant" / "x.png")]
    assert [s.path for s in result.skipped] == [str(tmp_path / "benign" / "x.png")]


def test_linked_class_subfolders_are_followed_and_a_link_loop_or_second_link_is_refused(tmp_path):
    for label in ("benign", "malignant"):
        (tmp_path / label).mkdir()
        iio.imwrite(tmp_path / label / "x.png", _ramp())
    (tmp_path / "elsewhere").mkdir()
    for name in ("p", "q"):
        iio.imwrite(tmp_path / "elsewhere" / f"{name}.png", _ramp(start=3))
    (tmp_path / "benign" / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    cases = load_folder(tmp_path)
    assert [c.case_id for c in cases] == ["benign/more/p", "benign/more/q", "benign/x", "malignant/x"]
    assert cases.skipped == []

    (tmp_path / "benign" / "loop").symlink_to(tmp_path / "benign", target_is_directory=True)
    (tmp_path / "malignant" / "again").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(DataError, match=r"benign/loop: is the folder .*benign again \(a symbolic link loop"):
        load_folder(tmp_path)
    result = load_folder(tmp_path, skip_bad=True)
    assert [c.case_id for c in result] == ["benign/more/p", "benign/more/q", "benign/x", "malignant/x"]
    assert [s.path for s in result.skipped] == [str(tmp_path / "benign" / "loop"), str(tmp_path / "malignant" / "again")]
    assert result.skipped[1].reason.endswith(f"again: is the folder {tmp_path / 'benign' / 'more'} again (a symbolic "
                                             "link loop, or a second link to it); expected every folder once")


def test_a_symlink_loop_listed_in_labels_csv_is_a_named_skippable_error(loader_folder):
    (loader_folder / "a.png").symlink_to(loader_folder / "b.png")
    (loader_folder / "b.png").symlink_to(loader_folder / "a.png")
    _write_folder(loader_folder, [("img0.png", "benign", "A"), ("a.png", "benign", "B")],
                  header=("path", "label", "patient_id"))
    with pytest.raises(DataError, match=r"line 3 \(a.png\): .*a.png: is a broken symbolic link or a link loop"):
        load_folder(loader_folder)
    result = load_folder(loader_folder, skip_bad=True)
    assert [c.case_id for c in result] == ["img0"] and [s.path for s in result.skipped] == ["a.png"]


@pytest.mark.parametrize("cell", [".", "./", "sub/.."])
def test_a_path_naming_the_data_folder_itself_is_a_named_error(loader_folder, cell):
    # found by the labels.csv fuzz: such a path used to end in a ValueError from pathlib (an empty file name)
    _write_folder(loader_folder, [("img0.png", "benign", "A"), (cell, "malignant", "B")],
                  header=("path", "label", "patient_id"))
    named = rf"line 3 \({re.escape(cell)}\): path '{re.escape(cell)}' names the data folder itself"
    with pytest.raises(DataError, match=named):
        load_folder(loader_folder)


def test_images_smaller_than_the_network_input_load_with_a_warning(loader_folder, caplog):
    _write_folder(loader_folder, [("img0.png", "benign", "A"), ("img1.png", "malignant", "B")],
                  header=("path", "label", "patient_id"))
    assert load_folder(loader_folder, input_size=20).warnings == []  # 30 x 20 is not smaller than 20
    with caplog.at_level(logging.WARNING, logger="femur_app.data"):
        result = load_folder(loader_folder, input_size=21)
    assert len(result) == 2 and result.warnings == [
        f"{loader_folder / name}: 30x20 pixels is smaller than the network input of 21x21; it is upsampled, so the "
        "network sees less detail than in a full-size image" for name in ("img0.png", "img1.png")]
    assert [record.getMessage() for record in caplog.records] == result.warnings


# --- the synth CLI writes exactly what the loader reads ---------------------------------------------------

def test_synth_cli_round_trips_through_load_folder(tmp_path, capsys):
    out = tmp_path / "set"
    assert synth.main(["--out", str(out), "--n", "6", "--seed", "4"]) == 0
    assert "wrote 6 cases (2 malignant)" in capsys.readouterr().out
    with open(out / "labels.csv") as f:
        assert f.readline().strip() == "path,label,patient_id,x0,y0,x1,y1,mask_path"
    loaded, generated = load_folder(out), SyntheticSet(6, 2, seed=4).cases()
    assert loaded.skipped == []
    for a, b in zip(loaded, generated):
        assert a.case_id == f"images/{b.case_id}" and (a.label, a.patient_id, a.box) == (b.label, b.patient_id, b.box)
        assert a.image.dtype == np.uint16 and np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert synth.main(["--out", str(out), "--n", "2"]) == 2  # refuses to overwrite without --force
    assert "already holds files (images/, labels.csv, masks/)" in capsys.readouterr().err


# --- the prepared-array cache ------------------------------------------------------------------------------

def test_a_damaged_or_label_flipped_prepared_cache_is_never_trusted_but_rebuilt_with_a_warning(tmp_path, caplog):
    from femur_app.data import Case, prepare_arrays

    rng = np.random.default_rng(5)
    cases = [Case(case_id=f"c{i}", patient_id=f"p{i}", label=i % 2, image=rng.integers(0, 4000, (40, 50)).astype(
        np.uint16), box=None, mask=None, source="test") for i in range(4)]
    fresh = prepare_arrays(cases, size=16, cache_dir=tmp_path, n_jobs=1)
    (cache,) = tmp_path.glob("prepared_*.npz")
    X, y, patient_ids, case_ids = fresh
    damaged = {
        "garbage": lambda: cache.write_bytes(b"PK\x03\x04 not really a zip"),
        "pickle": lambda: np.savez(cache, X=np.array([object()], dtype=object), y=y, patient_ids=patient_ids,
                                   case_ids=case_ids),
        "flipped labels": lambda: np.savez(cache, X=X, y=1 - y, patient_ids=patient_ids, case_ids=case_ids),
        "NaN pixels": lambda: np.savez(cache, X=np.full_like(X, np.nan), y=y, patient_ids=patient_ids,
                                       case_ids=case_ids),
    }
    expected = {"garbage": "not a readable minicnn .npz file", "pickle": "holds Python objects",
                "flipped labels": "its labels y differ from the cases' labels", "NaN pixels": "expected finite float32"}
    for name, damage in damaged.items():
        damage()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="femur_app.data"):
            again = prepare_arrays(cases, size=16, cache_dir=tmp_path, n_jobs=1)
        assert all(np.array_equal(a, b) for a, b in zip(again, fresh)), name
        (message,) = [record.getMessage() for record in caplog.records]
        assert message.startswith(f"unusable prepared-data cache {cache}: ") and expected[name] in message, message
        assert "preprocessing again and rewriting it" in message
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="femur_app.data"):
        prepare_arrays(cases, size=16, cache_dir=tmp_path, n_jobs=1)  # rewritten: read back without a word
    assert caplog.records == []


# --- colour models, orientation, complex pixels, mixed labels (issue 29, item 6) ---------------------------------
GREY = (np.arange(48 * 64).reshape(48, 64) % 251).astype(np.uint8)


def test_a_cmyk_jpeg_of_grey_is_read_as_its_grey_not_its_cyan_channel(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(GREY).convert("CMYK").save(path, quality=95)  # C = M = Y = 255 - grey, K = 0
    pixels, _ = read_image(path)
    assert pixels.shape == GREY.shape
    assert np.abs(pixels.astype(int) - GREY).max() <= 8  # JPEG's loss; the cyan channel would be 255 - grey


def test_a_colour_cmyk_jpeg_is_refused_as_cmyk_not_alpha(tmp_path):
    path = tmp_path / "cmyk.jpg"
    colour = np.stack([GREY, np.zeros_like(GREY), 255 - GREY], axis=-1)
    Image.fromarray(colour).convert("CMYK").save(path, quality=95)
    with pytest.raises(DataError) as error:
        read_image(path)
    assert str(error.value) == (f"{path}: is a colour image (CMYK, shape (48, 64, 3)); expected a single grey frame "
                                "(a grey image saved as CMYK, with equal channels as RGB, is accepted as grey)")


def test_a_cmyk_tiff_is_refused_as_cmyk(tmp_path):
    path = tmp_path / "cmyk.tif"
    tifffile.imwrite(path, np.zeros((8, 8, 4), np.uint8), photometric="separated")
    with pytest.raises(DataError) as error:
        read_image(path)
    assert str(error.value) == f"{path}: is a CMYK (separated) TIFF; expected a single grey frame"


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied_as_pillow_transposes_it(tmp_path, orientation):
    path = tmp_path / "turned.png"
    exif = Image.Exif()
    exif[0x0112] = orientation  # 3: turned 180 degrees, 6: 90 clockwise, 8: 90 counter-clockwise
    Image.fromarray(GREY).save(path, exif=exif)
    expected = {3: np.rot90(GREY, 2), 6: np.rot90(GREY, -1), 8: np.rot90(GREY, 1)}[orientation]
    with Image.open(path) as image:
        assert np.array_equal(np.asarray(ImageOps.exif_transpose(image)), expected)  # the oracle agrees
    assert np.array_equal(read_image(path)[0], expected)


def test_complex_pixels_are_refused_not_cast(tmp_path):
    path = tmp_path / "complex.tif"
    tifffile.imwrite(path, (GREY + 1j * GREY).astype(np.complex64))
    with pytest.raises(DataError) as error:
        read_image(path)
    assert str(error.value) == f"{path}: has complex pixels (complex64); expected real intensities (save the " \
                               "magnitude image)"


def test_a_patient_with_both_labels_is_kept_with_a_warning_naming_the_lines(tmp_path, caplog):
    for i in range(3):
        iio.imwrite(tmp_path / f"{i}.png", GREY + i)
    _write_folder(tmp_path, [("0.png", "benign", "P1"), ("1.png", "malignant", "P2"), ("2.png", "malignant", "P1")],
                  header=("path", "label", "patient_id"))
    with caplog.at_level(logging.WARNING, logger="femur_app.data"):
        result = load_folder(tmp_path)
    warning = (f"{tmp_path / 'labels.csv'}: patient 'P1' has both benign and malignant images: line 2 (0.png) benign, "
               "line 4 (2.png) malignant; both are kept, in one fold (check the labels if the patient has one lesion)")
    assert len(result) == 3 and result.warnings == [warning] and caplog.messages == [warning]


def test_a_damaged_modality_of_a_dicom_without_pixels_is_named_not_raised(monkeypatch):
    """What the loader fuzz found: pydicom converts an element when it is read, and a damaged VR raises then."""
    class Damaged(pydicom.Dataset):
        def __getattr__(self, name):
            if name == "Modality":
                raise NotImplementedError("Unknown Value Representation '0x43 0x00' in tag (0008,0060)")
            return super().__getattr__(name)

    path = _dicom("MR_small.dcm")
    monkeypatch.setattr(pydicom, "dcmread", lambda *args, **kwargs: Damaged())
    with pytest.raises(DataError) as error:
        read_image(path)
    assert str(error.value) == f"{path}: DICOM without pixel data (modality unreadable); expected an image"
