"""The paper's preprocessing, step by step, and the cached preparation of whole data sets."""
import numpy as np
import pytest

from femur_app.data import preprocess as pp
from femur_app.data import Case, prepare_arrays
from femur_app.data import dataset


def _phantom(shape=(120, 160), centre=(60, 80), radius=20, noise=0.02, seed=0):
    """Bright 'marrow' (0.9) with a dark round 'lesion' (0.3), Gaussian noise; returns (image, mask, box)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    disc = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2
    image = np.where(disc, 0.3, 0.9) + noise * np.random.default_rng(seed).standard_normal(shape)
    rows, cols = np.flatnonzero(disc.any(1)), np.flatnonzero(disc.any(0))
    return (image * 1000).astype(np.float32), disc, (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)


def test_crop_adds_the_margin_and_clips_it_at_the_border():
    image = np.arange(100 * 120).reshape(100, 120)
    crop, inner = pp.crop_with_margin(image, (30, 40, 50, 60), margin=20)
    assert crop.shape == (60, 60) and inner == (20, 20, 40, 40) and crop[0, 0] == image[20, 10]
    crop, inner = pp.crop_with_margin(image, (0, 85, 10, 100), margin=20)  # bottom-left corner
    assert crop.shape == (35, 30) and inner == (0, 20, 10, 35) and crop[0, 0] == image[65, 0]
    whole, inner = pp.crop_with_margin(image, None)
    assert whole is image and inner == (30, 25, 90, 75)  # no box: the central half stands in for it


@pytest.mark.parametrize("box", [(0, 0, 121, 10), (5, 5, 5, 9), (-1, 0, 4, 4)])
def test_a_box_outside_the_image_or_empty_is_refused_with_the_expected_range(box):
    with pytest.raises(ValueError, match=r"outside the 120x100 \(WxH\) image; expected 0 <= x0 < x1 <= 120"):
        pp.crop_with_margin(np.zeros((100, 120)), box)


def test_scale_divides_by_the_99th_percentile_and_clips():
    image = np.arange(101, dtype=np.float32)  # 99th percentile = 99
    scaled = pp.scale_robust(image)
    assert scaled.dtype == np.float32
    assert scaled[0] == 0 and scaled[99] == 1 and scaled[100] == 1 and scaled[33] == pytest.approx(1 / 3)
    assert not pp.scale_robust(np.zeros((4, 4))).any()


def test_otsu_foreground_follows_the_box_or_the_forced_polarity():
    image = np.zeros((10, 20), np.float32)
    image[:, 10:] = 1.0
    right = np.zeros((10, 20), bool)
    right[:, 10:] = True
    assert np.array_equal(pp.binarize_otsu(image, (12, 0, 20, 10)), right)  # box on the bright half
    assert np.array_equal(pp.binarize_otsu(image, (0, 0, 8, 10)), ~right)  # box on the dark half
    assert np.array_equal(pp.binarize_otsu(image, (0, 0, 8, 10), polarity="bright"), right)
    assert pp.binarize_otsu(np.full((3, 3), 7.0)).all()  # nothing to split: all foreground
    with pytest.raises(ValueError, match="polarity must be"):
        pp.binarize_otsu(image, polarity="up")


def test_largest_region_counts_pixels_inside_the_box():
    binary = np.zeros((20, 30), bool)
    binary[2:12, 2:12] = True  # 100 pixels
    binary[14:17, 20:23] = True  # 9 pixels
    binary[0, 29] = True  # touches nothing
    assert pp.largest_region(binary).sum() == 100
    small = pp.largest_region(binary, box=(18, 12, 30, 20))
    assert small.sum() == 9 and small[15, 21]
    assert not pp.largest_region(binary, box=(25, 5, 28, 8)).any()  # nothing inside that box


def test_opening_removes_a_spur_closing_bridges_a_gap_fill_holes_fills_a_ring():
    square = np.zeros((20, 20), bool)
    square[5:14, 5:14] = True
    spur = square.copy()
    spur[9, 14:19] = True
    opened = pp.opening(spur, radius=1)
    assert not opened[9, 15:19].any() and opened[6:13, 6:13].all()
    gap = np.zeros((20, 20), bool)
    gap[5:14, 2:9] = gap[5:14, 10:17] = True
    assert pp.closing(gap, radius=1)[6:13, 9].all()
    at_border = np.zeros((10, 10), bool)
    at_border[:, :4] = True
    assert np.array_equal(pp.closing(at_border, radius=2), at_border)  # the border is not eaten
    ring = np.zeros((9, 9), bool)
    ring[1:8, 1:8] = True
    ring[3:6, 3:6] = False
    filled = pp.fill_holes(ring)
    assert filled[1:8, 1:8].all() and filled.sum() == 49


def test_apply_mask_and_resize_keep_the_shape_undistorted():
    image = np.full((10, 20), 0.5, np.float32)
    mask = np.zeros((10, 20), bool)
    mask[:, :5] = True
    masked = pp.apply_mask(image, mask)
    assert masked.dtype == np.float32 and masked[:, :5].min() == 0.5 and not masked[:, 5:].any()
    square = pp.resize(np.ones((10, 20), np.float32), 20)  # padded with 5 zero rows top and bottom
    assert square.shape == (20, 20) and square.dtype == np.float32
    assert np.array_equal(square[5:15], np.ones((10, 20))) and not square[:5].any() and not square[15:].any()
    assert pp.resize(np.ones((50, 30), np.float32), 8).shape == (8, 8)


def test_preprocess_finds_a_dark_lesion_and_returns_every_stage():
    image, disc, box = _phantom()
    result = pp.preprocess(image, box, size=64)
    assert list(result.stages) == list(pp.STAGES)
    assert result.stages["crop"].shape == (41 + 40, 41 + 40)
    assert result.image.shape == (64, 64) and result.image.dtype == np.float32
    x0, y0, x1, y1 = box
    truth = disc[y0 - 20: y1 + 20, x0 - 20: x1 + 20]
    found = result.stages["filled"]
    assert (found & truth).sum() / (found | truth).sum() > 0.97
    lesion = result.stages["masked"][truth]
    assert lesion.min() > 0.2 and lesion.max() < 0.45  # 0.3 / 0.9 of the bright level, noise around it
    assert 0 <= result.image.min() and result.image.max() <= 1


def test_without_a_box_the_whole_image_is_the_crop_and_its_centre_the_lesion():
    image, disc, _ = _phantom(shape=(60, 60), centre=(30, 30), radius=15, noise=0.0)
    result = pp.preprocess(image, None, size=32)
    assert result.stages["crop"] is image
    assert np.array_equal(result.stages["filled"], disc)


def test_box_at_the_image_border_clips_the_margin():
    image, disc, box = _phantom(shape=(80, 100), centre=(10, 12), radius=9)
    assert box[:2] == (3, 1)
    result = pp.preprocess(image, box, size=32)
    assert result.stages["crop"].shape == (box[3] + 20, box[2] + 20)
    assert result.stages["filled"][disc[: box[3] + 20, : box[2] + 20]].mean() > 0.97


def test_prepare_arrays_returns_the_trainer_arrays_and_reuses_its_cache(tmp_path, monkeypatch):
    cases = []
    for i in range(3):
        image, mask, box = _phantom(seed=i)
        cases.append(Case(f"c{i}", f"p{i // 2}", i % 2, image, box, mask, "test"))
    X, y, patients, ids = prepare_arrays(cases, size=32, cache_dir=tmp_path, n_jobs=1)
    assert X.shape == (3, 1, 32, 32) and X.dtype == np.float32 and y.dtype == np.int64
    assert y.tolist() == [0, 1, 0] and patients.tolist() == ["p0", "p0", "p1"] and ids.tolist() == ["c0", "c1", "c2"]
    assert np.array_equal(X[1, 0], pp.preprocess(cases[1].image, cases[1].box, size=32).image)
    files = list(tmp_path.glob("prepared_*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as stored:  # plain arrays, no pickled objects
        assert sorted(stored.files) == ["X", "case_ids", "patient_ids", "y"]

    def fail(*args, **kwargs):
        raise AssertionError("preprocess ran although the cache holds the result")

    monkeypatch.setattr(dataset, "preprocess", fail)
    again = prepare_arrays(cases, size=32, cache_dir=tmp_path)
    assert all(np.array_equal(a, b) for a, b in zip(again, (X, y, patients, ids)))
    cases[0].image[0, 0] += 1  # any pixel change is a new key
    with pytest.raises(AssertionError, match="preprocess ran"):
        prepare_arrays(cases, size=32, cache_dir=tmp_path, n_jobs=1)


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FEMUR_APP_CACHE", str(tmp_path / "c"))
    assert dataset.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("FEMUR_APP_CACHE")
    assert dataset.default_cache_dir().parts[-2:] == (".cache", "femur_app")
