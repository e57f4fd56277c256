"""The BTXRD importer on a miniature written like the real download (tests/btxrd_miniature.py).

Oracles: boxes, mask areas and patient groups worked by hand in the miniature's module; pixels decoded
independently with Pillow; the difference hash against a loop over its definition.
"""
import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from btxrd_miniature import BOXES, MASK_PIXELS, NESTED_COPIES, PATIENTS, ROWS, table_row, write_miniature, write_table
from femur_app.data import load_folder
from femur_app.data.btxrd import (COLUMNS, HASH_SIZE, BTXRDError, Row, dhash, group_patients, import_btxrd,
                                  read_annotation)
from femur_app.errors import DataError
from femur_app.import_btxrd import main

FEMUR = ["IMG000001", "IMG000002", "IMG000003", "IMG000005", "IMG000007", "IMG000008"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return write_miniature(tmp_path_factory.mktemp("btxrd"))


@pytest.fixture()
def copy(source, tmp_path):
    """A private copy of the miniature that a test may break."""
    return shutil.copytree(source, tmp_path / "BTXRD")


@pytest.fixture(scope="module")
def femur_import(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("femur")
    return out, import_btxrd(source, out)


def source_pixels(source, stem):
    """The JPEG decoded by Pillow: grey as it is, RGB with equal channels as one channel."""
    array = np.asarray(Image.open(source / "images" / f"{stem}{ROWS[stem][0]}"))
    return array if array.ndim == 2 else array[..., 0]


def test_femur_import_loads_with_the_projects_loader(source, femur_import):
    out, _ = femur_import
    cases = load_folder(out)
    assert [case.case_id for case in cases] == [f"images/{stem}" for stem in FEMUR]
    assert not cases.skipped
    for case in cases:
        stem = case.case_id.split("/")[1]
        assert case.label == (ROWS[stem][8] == "malignant")
        assert case.patient_id == PATIENTS[stem]
        assert case.box == BOXES[stem]
        assert (case.mask is None) == (stem not in MASK_PIXELS)
        if case.mask is not None:
            assert case.mask.sum() == MASK_PIXELS[stem]
        assert case.image.shape == (ROWS[stem][2], ROWS[stem][1])
        np.testing.assert_array_equal(case.image, source_pixels(source, stem))  # lossless, unchanged


def test_masks_are_the_polygons(femur_import):
    out, _ = femur_import
    triangle = np.asarray(Image.open(out / "masks" / "IMG000002.png")) > 0
    y, x = np.mgrid[:triangle.shape[0], :triangle.shape[1]]
    np.testing.assert_array_equal(triangle, (x >= 10) & (y >= 10) & (x + y <= 40))
    square = np.asarray(Image.open(out / "masks" / "IMG000001.png")) > 0
    expected = np.zeros_like(square)
    expected[35:76, 25:56] = True
    np.testing.assert_array_equal(square, expected)


def test_a_sliver_polygon_keeps_its_outline(tmp_path):
    """No pixel centre lies inside a polygon 0.4 px high; as LabelMe draws the outline too, the mask is the
    outline through the rounded corners (rows 5-6, columns 10-21) and the box is the mask's."""
    path = tmp_path / "IMG000001.json"
    points = [[10.2, 5.2], [20.7, 5.2], [20.7, 5.6], [10.2, 5.6]]
    path.write_text(json.dumps({"shapes": [{"label": "osteochondroma", "points": points, "shape_type": "polygon"}],
                                "imageHeight": 12, "imageWidth": 30}))
    annotation = read_annotation(path, (12, 30))
    expected = np.zeros((12, 30), bool)
    expected[5:7, 10:22] = True
    np.testing.assert_array_equal(annotation.mask, expected)
    assert annotation.box == (10, 5, 22, 7) and annotation.n_rectangles == 0 and not annotation.clipped


def test_labels_csv_columns(femur_import):
    out, _ = femur_import
    with open(out / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "label", "patient_id", "x0", "y0", "x1", "y1", "mask_path", "center", "sites",
                             "views", "subtype", "standin_patient", "coarse_patient"]
    row3 = next(row for row in rows if row["path"] == "images/IMG000003.png")
    assert row3 == {"path": "images/IMG000003.png", "label": "malignant", "patient_id": "btxrd-IMG000003",
                    "x0": "40", "y0": "20", "x1": "100", "y1": "120", "mask_path": "", "center": "1",
                    "sites": "tibia;fibula;femur;lower limb", "views": "frontal", "subtype": "osteosarcoma",
                    "standin_patient": "btxrd-IMG000003", "coarse_patient": "btxrd-coarse-IMG000003"}


def test_summary_counts_exclusions_and_patients(femur_import):
    out, summary = femur_import
    assert summary == json.loads((out / "import_summary.json").read_text())
    assert summary["modality"] == "radiograph (X-ray)"
    assert summary["table_rows"] == 9 and summary["images"] == 6
    assert summary["by_class"] == {"benign": 4, "malignant": 2}
    assert summary["by_centre"] == {"1": {"benign": 3, "malignant": 1}, "2": {"benign": 1},
                                    "3": {"malignant": 1}}
    assert summary["by_site"]["femur"] == {"benign": 4, "malignant": 2}
    assert summary["by_site"]["tibia"] == {"malignant": 1}
    assert summary["by_view"] == {"frontal": {"benign": 3, "malignant": 1}, "lateral": {"benign": 1, "malignant": 1}}
    assert summary["excluded"] == {"normal radiograph (no tumour)": {"count": 2, "image_ids": ["IMG000004", "IMG000009"]},
                                   "site not selected": {"count": 1, "image_ids": ["IMG000006"]}}
    patients = summary["patients"]
    assert patients["count"] == 3 and patients["images_per_patient"] == {"1": 1, "2": 1, "3": 1}
    assert patients["consecutive_same_key"] == [["IMG000001", "IMG000002"]]
    assert patients["exact_duplicates"] == [["IMG000001", "IMG000005"]]
    assert patients["near_duplicates"] == [["IMG000003", "IMG000007", 1]]  # measured: 1 of 256 bits differs
    notes = summary["annotations"]
    assert notes["nested_duplicates_ignored"] == len(NESTED_COPIES)
    assert notes["used_from_nested_folder"] == ["IMG000008"]
    assert notes["box_only_no_mask"] == ["IMG000003"]
    assert notes["polygon_only_box_from_mask"] == ["IMG000002"]
    assert notes["points_clipped_to_image"] == ["IMG000008"]
    assert summary["grey_conversion"] == {"grey": ["IMG000002", "IMG000003", "IMG000007", "IMG000008"],
                                          "rgb-equal-channels": ["IMG000001", "IMG000005"], "rgb-to-luma": []}
    assert summary["ignored_files"] == ["~$dataset.xlsx"]
    assert summary["over_loader_pixel_limit"]["image_ids"] == []
    # the coarse grouping: on the miniature every (centre, age, gender, diagnosis) is one stand-in patient already
    assert summary["grouping"]["patient_id"] == "standin"
    assert summary["grouping"]["coarse"]["count"] == 3
    assert summary["grouping"]["coarse"]["images_per_patient"] == {"1": 1, "2": 1, "3": 1}
    assert summary["giant_cell_tumour"] == {"who_class": "intermediate (locally aggressive, rarely metastasising)",
                                            "btxrd_label": "benign", "choice": "keep", "images": 1}
    markdown = (out / "import_summary.md").read_text()
    assert markdown.startswith("# BTXRD import: 6 tumour images (4 benign, 2 malignant), 3 stand-in patients")
    assert "not the MRI" in markdown
    assert ("Giant-cell tumour: WHO class intermediate (locally aggressive, rarely metastasising), labelled benign "
            "by BTXRD; 1 selected image(s) kept as benign, as BTXRD labels it (--giant-cell).") in markdown
    assert "Coarse grouping, the sensitivity analysis (column coarse_patient)" in markdown


def test_true_colour_becomes_luma_and_two_lesions_one_box(source, tmp_path):
    summary = import_btxrd(source, tmp_path, site="all", centers=[3], n_jobs=1)
    assert summary["grey_conversion"]["rgb-to-luma"] == ["IMG000006"]
    assert summary["annotations"]["several_lesions"] == ["IMG000006"]
    case = next(case for case in load_folder(tmp_path) if case.case_id == "images/IMG000006")
    pillow_luma = np.asarray(Image.open(source / "images" / "IMG000006.jpeg").convert("L")).astype(int)
    assert np.abs(case.image.astype(int) - pillow_luma).max() <= 1
    assert case.box == BOXES["IMG000006"] and case.mask.sum() == MASK_PIXELS["IMG000006"]


@pytest.mark.parametrize("options, images, excluded", [
    ({"site": "all"}, 7, {"normal radiograph (no tumour)": 2}),
    ({"centers": [1]}, 4, {"normal radiograph (no tumour)": 2, "centre not selected": 3}),
    ({"views": ["lateral"]}, 2, {"normal radiograph (no tumour)": 2, "site not selected": 1, "view not selected": 4}),
    ({"site": "Tibia"}, 1, {"normal radiograph (no tumour)": 2, "site not selected": 6}),
    ({"site": "upper_limb"}, 1, {"normal radiograph (no tumour)": 2, "site not selected": 6}),
])
def test_selection(source, tmp_path, options, images, excluded):
    summary = import_btxrd(source, tmp_path, **options)
    assert summary["images"] == images
    assert {reason: entry["count"] for reason, entry in summary["excluded"].items()} == excluded


def test_consecutive_rule_chains_through_images_left_out(source, tmp_path):
    """IMG000002 (lateral) is left out, but IMG000001 and IMG000005 stay one patient through the hash."""
    summary = import_btxrd(source, tmp_path, views=["frontal"])
    cases = {case.case_id: case.patient_id for case in load_folder(tmp_path)}
    assert cases == {"images/IMG000001": "btxrd-IMG000001", "images/IMG000003": "btxrd-IMG000003",
                     "images/IMG000005": "btxrd-IMG000001", "images/IMG000008": "btxrd-IMG000008"}
    assert summary["patients"]["consecutive_same_key"] == [["IMG000001", "IMG000002"]]


def test_group_patients_consecutive_rule_alone():
    """Rows a, b, c with one key (b not imported) are one patient; d with another age is not; hashes all differ."""
    def row(stem, age):
        return Row(stem, 0, 1, age, "F", frozenset({"femur", "tumor", "benign", "osteochondroma", "frontal"}))

    rows = [row("IMG000010", "9"), row("IMG000011", "9"), row("IMG000012", "9"), row("IMG000013", "10")]
    rng = np.random.default_rng(5)
    converted = [{"stem": stem, "sha256": stem, "dhash": rng.integers(0, 2, 256).astype(bool)}
                 for stem in ("IMG000010", "IMG000012", "IMG000013")]
    patients, notes = group_patients(rows, converted, max_distance=0)
    assert patients == {"IMG000010": "btxrd-IMG000010", "IMG000012": "btxrd-IMG000010",
                        "IMG000013": "btxrd-IMG000013"}
    assert notes["consecutive_same_key"] == [["IMG000010", "IMG000011"], ["IMG000011", "IMG000012"]]


def coarse_mate(folder):
    """IMG000008 given IMG000001's centre, age and gender (benign both): the two share a coarse key, but not the
    stand-in key (other sites and subtype, and IMG000003 ... IMG000007 lie between them in id order)."""
    rows = [table_row(s) for s in ROWS]
    rows[7][1:4] = [1, 12, "M"]
    rewrite_table(folder, rows)


def test_coarse_grouping_joins_what_the_stand_in_rule_keeps_apart(copy, tmp_path):
    """Worked by hand: stand-in {1, 2, 5} (consecutive rule, exact copy), {3, 7} (near copy), {8}; coarse {1, 2, 5,
    8} (IMG000005 of centre 2 joins through its copy), {3, 7}. --grouping coarse writes the coarse groups as
    patient_id, which the project's loader then reads."""
    coarse_mate(copy)
    summary = import_btxrd(copy, tmp_path / "standin", n_jobs=1)
    assert summary["patients"]["images_per_patient"] == {"1": 1, "2": 1, "3": 1}
    assert summary["grouping"]["coarse"]["images_per_patient"] == {"2": 1, "4": 1}
    summary = import_btxrd(copy, tmp_path / "coarse", n_jobs=1, grouping="coarse")
    assert summary["grouping"]["patient_id"] == "coarse"
    cases = {case.case_id: case.patient_id for case in load_folder(tmp_path / "coarse")}
    first, third = "btxrd-coarse-IMG000001", "btxrd-coarse-IMG000003"
    assert cases == {"images/IMG000001": first, "images/IMG000002": first, "images/IMG000005": first,
                     "images/IMG000008": first, "images/IMG000003": third, "images/IMG000007": third}
    with open(tmp_path / "coarse" / "labels.csv", newline="") as f:
        standin = {row["path"]: row["standin_patient"] for row in csv.DictReader(f)}
    assert standin["images/IMG000008.png"] == "btxrd-IMG000008" == PATIENTS["IMG000008"]


@pytest.mark.parametrize("choice, label, excluded", [("exclude", None, ["IMG000008"]),
                                                     ("malignant", "malignant", None)])
def test_giant_cell_switch(source, tmp_path, choice, label, excluded):
    """IMG000008 is the miniature's one giant-cell tumour (benign in the table)."""
    summary = import_btxrd(source, tmp_path, giant_cell=choice)
    with open(tmp_path / "labels.csv", newline="") as f:
        labels = {row["path"]: row["label"] for row in csv.DictReader(f)}
    assert labels.get("images/IMG000008.png") == label
    reason = "giant-cell tumour (WHO intermediate) excluded"
    assert summary["excluded"].get(reason, {}).get("image_ids") == excluded
    assert summary["giant_cell_tumour"]["choice"] == choice and summary["giant_cell_tumour"]["images"] == 1
    assert summary["by_class"] == ({"benign": 3, "malignant": 2} if excluded else {"benign": 3, "malignant": 3})


def test_dhash_against_its_definition():
    """On a 16 x 17 image the resize is the identity, so the hash is the comparison of horizontal neighbours."""
    pixels = np.random.default_rng(3).integers(0, 256, (HASH_SIZE, HASH_SIZE + 1)).astype(np.uint8)
    expected = [pixels[r, c + 1] > pixels[r, c] for r in range(HASH_SIZE) for c in range(HASH_SIZE)]
    np.testing.assert_array_equal(dhash(pixels), expected)


# --- a malformed copy is refused, naming the file and what was expected ----------------------------------------

def rewrite_table(folder, rows, columns=COLUMNS):
    write_table(folder / "dataset.xlsx", rows, columns)


def drop_column(folder):
    keep = [i for i, name in enumerate(COLUMNS) if name != "femur"]
    rewrite_table(folder, [[table_row(s)[i] for i in keep] for s in ROWS], [COLUMNS[i] for i in keep])


def both_diagnoses(folder):
    rows = [table_row(s) for s in ROWS]
    rows[2][COLUMNS.index("benign")] = 1
    rewrite_table(folder, rows)


def not_a_flag(folder):
    rows = [table_row(s) for s in ROWS]
    rows[1][COLUMNS.index("lateral")] = 2
    rewrite_table(folder, rows)


def remove_annotation(folder):
    (folder / "Annotations" / "IMG000003.json").unlink()
    (folder / "Annotations" / "Annotations" / "IMG000003.json").unlink()


def stray_annotation(folder):
    shutil.copyfile(folder / "Annotations" / "IMG000001.json", folder / "Annotations" / "IMG000099.json")


def conflicting_nested_copy(folder):
    (folder / "Annotations" / "Annotations" / "IMG000001.json").write_text('{"shapes": []}')


def unlisted_image(folder):
    shutil.copyfile(folder / "images" / "IMG000002.jpeg", folder / "images" / "IMG000010.jpeg")


def wrong_size(folder):
    path = folder / "Annotations" / "IMG000002.json"
    document = json.loads(path.read_text())
    document["imageWidth"] = 144
    path.write_text(json.dumps(document))


@pytest.mark.parametrize("damage, culprit, message", [
    (drop_column, "dataset.xlsx", "missing column(s) 'femur' (expected the 37 BTXRD columns"),
    (both_diagnoses, "dataset.xlsx row 4", "(IMG000003): tumor = 1 with benign/malignant flags ['benign', 'malignant'] "
                                           "(expected exactly one of benign, malignant)"),
    (not_a_flag, "dataset.xlsx row 3", "column 'lateral' holds 2 (expected 0 or 1)"),
    (remove_annotation, "images/IMG000003.jpeg", "malignant tumour image without annotation "
                                                 "(expected Annotations/IMG000003.json)"),
    (lambda f: (f / "images" / "IMG000008.jpg").unlink(), "dataset.xlsx row 9",
     "image IMG000008 not found in images/ (expected a .jpeg or .jpg file with that stem)"),
    (stray_annotation, "Annotations/IMG000099.json", "annotation without image (expected images/IMG000099.jpeg or .jpg)"),
    (unlisted_image, "images/IMG000010.jpeg", "image without a row in dataset.xlsx (expected an image_id IMG000010)"),
    (conflicting_nested_copy, "Annotations/Annotations/IMG000001.json", "differs from"),
    (wrong_size, "Annotations/IMG000002.json", "annotates a 144x190 (WxH) image but its image is 143x190 "
                                               "(expected the same size)"),
    (lambda f: (f / "images" / "IMG000002.jpeg").write_bytes(b"\xff\xd8 not a jpeg"), "images/IMG000002.jpeg",
     "unreadable or truncated image"),
])
def test_malformed_copy_is_refused(copy, tmp_path, damage, culprit, message):
    damage(copy)
    with pytest.raises(BTXRDError) as error:
        import_btxrd(copy, tmp_path / "out")
    text = str(error.value)
    assert text.startswith(str(copy / culprit)) and message in text, text


def test_images_above_the_loaders_pixel_limit_are_named(source, tmp_path, monkeypatch):
    """IMG000008 (153 x 311 = 47,583 pixels) is the one image above a limit of 47,000 pixels."""
    monkeypatch.setattr("femur_app.data.limits.MAX_PIXELS", 47_000)
    summary = import_btxrd(source, tmp_path)
    assert summary["over_loader_pixel_limit"] == {"max_pixels": 47_000, "image_ids": ["IMG000008"]}
    assert "1 image(s) have more than 47,000 pixels" in (tmp_path / "import_summary.md").read_text()


def test_existing_output_needs_force(source, tmp_path):
    import_btxrd(source, tmp_path, centers=[2])
    with pytest.raises(DataError, match=r"already holds files \(images/, import_summary.json, import_summary.md, "
                                        r"labels.csv, masks/\)"):
        import_btxrd(source, tmp_path, centers=[2])
    assert import_btxrd(source, tmp_path, centers=[2], force=True)["images"] == 1


@pytest.mark.parametrize("where", [".", "images", "BTXRD", "BTXRD/new"])
def test_the_output_is_never_the_source_or_inside_it(copy, capsys, where):
    """The probe's case: --out equal to --src wrote into the source tree, and every later import of it failed."""
    src = copy.parent if where == "BTXRD" or where.startswith("BTXRD/") else copy
    out = copy if where == "." else copy / where if where == "images" else copy.parent / where
    before = sorted(str(p) for p in copy.rglob("*"))
    assert main(["--src", str(src), "--out", str(out), "--jobs", "1", "--force"]) == 2
    error = capsys.readouterr().err
    assert error == (f"error: --out {out}: is inside --src {src} (expected a folder outside the source: writing "
                     "there would change the source)\n")
    assert sorted(str(p) for p in copy.rglob("*")) == before


# --- the command ----------------------------------------------------------------------------------------------

def test_command_writes_and_reports(source, tmp_path, capsys):
    assert main(["--src", str(source.parent), "--out", str(tmp_path), "--centers", "1,3", "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("wrote 5 radiograph (X-ray) images (3 benign, 2 malignant) as 3 stand-in patients")
    assert len(load_folder(tmp_path)) == 5


@pytest.mark.parametrize("arguments, line", [
    (["--site", "femr"], "error: --site: unknown site 'femr' (expected all or one of: hand,"),
    (["--views", "axial"], "error: --views: unknown view 'axial' (expected some of frontal, lateral, oblique)"),
    (["--centers", "one"], "error: argument --centers: 'one' (expected centre numbers separated by commas"),
    (["--jobs", "0"], "error: argument --jobs: --jobs 0: expected -1 (every core) or 1 to 256 (see "),
])
def test_command_errors_are_one_line(source, tmp_path, capsys, arguments, line):
    try:
        code = main(["--src", str(source), "--out", str(tmp_path / "out"), *arguments])
    except SystemExit as exit_:  # argparse's own errors leave through sys.exit
        code = exit_.code
    error = capsys.readouterr().err
    assert code == 2
    assert error.startswith(line) and error.count("\n") == 1 and "Traceback" not in error, error


def test_command_debug_shows_the_exception(copy, tmp_path):
    remove_annotation(copy)
    assert main(["--src", str(copy), "--out", str(tmp_path / "out"), "--jobs", "1"]) == 2
    with pytest.raises(BTXRDError, match="without annotation"):
        main(["--src", str(copy), "--out", str(tmp_path / "out"), "--jobs", "1", "--debug"])



@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(shapes=5), "shapes is 5 (expected a list of LabelMe shapes)"),
    (lambda d: d["shapes"].__setitem__(0, "box"), "shapes[0] is 'box' (expected a LabelMe shape: an object with "
                                                  "shape_type and points)"),
    (lambda d: d["shapes"][0].update(points="abc"), "shapes[0].points (polygon) is 'abc' (expected at least 3 "
                                                   "[x, y] pairs of numbers)"),
    (lambda d: d["shapes"][0].update(points=[["1", "2"], ["3", "4"]]),
     "shapes[0].points (polygon) is [['1', '2'], ['3', '4']] (expected at least 3 [x, y] pairs of numbers)"),
    (lambda d: d["shapes"][0].update(points=[[1, True], [3, None]]),
     "shapes[0].points (polygon) is [[1, True], [3, None]] (expected at least 3 [x, y] pairs of numbers)"),
    (lambda d: d["shapes"][0].update(shape_type=["polygon"]),
     "shapes[0].shape_type is ['polygon'] (expected rectangle or polygon)"),
])
def test_malformed_annotations_are_one_line_naming_the_file_and_the_field(copy, tmp_path, capsys, change, message):
    for path in (copy / "Annotations" / "IMG000002.json", copy / "Annotations" / "Annotations" / "IMG000002.json"):
        if path.exists():
            document = json.loads(path.read_text())
            change(document)
            path.write_text(json.dumps(document))
    assert main(["--src", str(copy), "--out", str(tmp_path / "out"), "--jobs", "1"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {copy / 'Annotations'}") and error.count("\n") == 1, error
    assert error.endswith(f"IMG000002.json: {message}\n"), error
