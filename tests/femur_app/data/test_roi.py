"""The preprocessing ablation (data.roi = otsu | box | mask): each variant by hand, the cache keeps them apart,
a missing mask is a clear error, compare runs the variants on the same folds, and the Otsu-vs-truth agreement."""
import numpy as np
import pytest

from femur_app import compare
from femur_app.data.dataset import Case, prepare_arrays
from femur_app.data.preprocess import apply_mask, crop_with_margin, preprocess, resize, scale_robust
from femur_app.errors import DataError
from femur_app.evaluation.roi_agreement import agreement, by_class
from femur_app.evaluation.predictions import Predictions


def lesion_image(seed=0):
    rng = np.random.default_rng(seed)
    image = (rng.uniform(900, 1100, (61, 83))).astype(np.uint16)
    mask = np.zeros(image.shape, bool)
    mask[20:37, 30:51] = True
    image[mask] = 400  # a dark lesion in brighter tissue
    return image, mask, (30, 20, 51, 37)


@pytest.mark.parametrize("roi", ["box", "mask"])
def test_box_and_mask_variants_by_hand(roi):
    image, mask, box = lesion_image()
    crop, _ = crop_with_margin(image, box, 7)
    scaled = scale_robust(crop)
    keep = np.ones(crop.shape, bool) if roi == "box" else crop_with_margin(mask, box, 7)[0]
    expected = resize(apply_mask(scaled, keep), 32)
    got = preprocess(image, box, size=32, margin=7, roi=roi, mask=mask).image
    np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(got, preprocess(image, box, size=32, margin=7).image)  # differs from Otsu


def test_mask_variant_needs_a_mask(tmp_path):
    image, mask, box = lesion_image()
    with pytest.raises(ValueError, match="roi 'mask' needs the true lesion mask"):
        preprocess(image, box, roi="mask")
    with pytest.raises(ValueError, match="roi must be one of"):
        preprocess(image, box, roi="circle")
    cases = [Case("a", "p1", 0, image, box, mask, "x"), Case("b", "p2", 1, image, box, None, "y")]
    with pytest.raises(DataError, match=r"1 case\(s\) have no lesion mask, e.g. \['b'\]"):
        prepare_arrays(cases, size=32, cache_dir=tmp_path, roi="mask", n_jobs=1)
    # the cache keeps the variants apart: three files, three different arrays
    arrays = [prepare_arrays(cases[:1], size=32, cache_dir=tmp_path, roi=r, n_jobs=1)[0] for r in ("otsu", "box", "mask")]
    assert len(list(tmp_path.glob("prepared_*.npz"))) == 3
    assert not np.array_equal(arrays[0], arrays[1]) and not np.array_equal(arrays[1], arrays[2])


def test_otsu_agreement_by_hand():
    roi = np.zeros((4, 5), np.float32)
    roi[1:3, 1:4] = 0.5  # Otsu kept 6 pixels
    truth = np.zeros((4, 5), bool)
    truth[1:3, 2:5] = True  # lesion: 6 pixels, 4 of them kept
    result = agreement(roi, truth)
    assert (result.dice, result.lesion_discarded, result.kept_outside_lesion) == pytest.approx((2 * 4 / 12, 2 / 6, 2 / 6))
    summary = by_class(np.stack([roi, roi, roi])[:, None], [truth, None, truth], np.array([0, 1, 0]))
    assert list(summary) == ["benign"] and summary["benign"].cases == 2
    benign = summary["benign"]
    assert (benign.dice, benign.lesion_discarded, benign.kept_outside_lesion) == pytest.approx((2 / 3, 1 / 3, 1 / 3))


def test_compare_runs_the_roi_variants_on_the_same_folds(tmp_path, monkeypatch):
    monkeypatch.setenv("FEMUR_APP_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "cmp"
    assert compare.main(["--models", "radiomics,radiomics:box,radiomics:mask", "--out", str(out), "--folds", "3",
                         "--set", "data.n=24", "--set", "data.n_malignant=8", "--set", "data.input_size=48",
                         "--set", "cv.bootstrap=100"]) == 0
    runs = [Predictions.read_csv(out / name / "predictions.csv") for name in ("radiomics", "radiomics-roi_box",
                                                                             "radiomics-roi_mask")]
    for run in runs[1:]:
        np.testing.assert_array_equal(run.folds, runs[0].folds)
        assert not np.array_equal(run.probs, runs[0].probs)
    text = (out / "comparison.md").read_text()
    assert "Radiomics + logistic regression (box ROI)" in text and "(mask ROI)" in text
