"""Writing a data folder (femur_app.data.folder) through ``python -m femur_app.synth``: nothing of the user's is
written over (issue 29, item 5): ``--out`` must be new or empty unless ``--force``; it was enough before that it
held no labels.csv, and a folder of the user's images named like the set's lost them."""
from pathlib import Path

import pytest

from femur_app import synth
from femur_app.data import load_folder
from femur_app.data.folder import check_output_folder
from femur_app.errors import DataError


def test_synth_refuses_a_folder_that_holds_files_and_changes_nothing(tmp_path, capsys):
    out = tmp_path / "set"
    (out / "images").mkdir(parents=True)
    (out / "images" / "case_000.png").write_bytes(b"the user's image")
    assert synth.main(["--out", str(out), "--n", "4"]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {out}: already holds files (images/) (expected a new or empty folder; --force writes into "
        "it, replacing files of the same names)\n")
    assert [p.name for p in out.rglob("*")] == ["images", "case_000.png"]
    assert (out / "images" / "case_000.png").read_bytes() == b"the user's image"


def test_synth_writes_into_a_new_or_empty_folder_and_with_force_over_its_own_set(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert synth.main(["--out", str(empty), "--n", "4"]) == 0
    assert len(load_folder(empty)) == 4
    assert synth.main(["--out", str(empty), "--n", "4", "--force"]) == 0


def test_a_long_listing_is_cut_after_six_names(tmp_path):
    for index in range(9):
        (tmp_path / f"f{index}").write_text("")
    with pytest.raises(DataError, match=r"already holds files \(f0, f1, f2, f3, f4, f5 and 3 more\)"):
        check_output_folder(tmp_path)


def test_a_link_into_the_source_is_inside_it(tmp_path):
    source = tmp_path / "source"
    (source / "images").mkdir(parents=True)
    (tmp_path / "out").symlink_to(source / "images")
    with pytest.raises(DataError, match="is inside --src"):
        check_output_folder(Path(tmp_path / "out"), force=True, source=source)
