"""The synthetic phantom set: structure, determinism, the paper's lesion sizes, class signs that overlap,
no global shortcut, learnable but not trivially."""
import time

import numpy as np
import pytest
from joblib import Parallel, delayed
from skimage.measure import regionprops
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from femur_app.models import radiomics
from femur_app.data import load_dataset, synthetic
from femur_app.data.preprocess import preprocess


@pytest.fixture(scope="module")
def default_set():
    """The default 500 cases and the CPU seconds it took to draw them."""
    start = time.process_time()  # CPU time of all threads: robust to other jobs sharing the machine
    cases = synthetic.generate(n_jobs=2)
    return cases, time.process_time() - start


@pytest.fixture(scope="module")
def default_rois(default_set):
    """Labels and 64 x 64 preprocessed ROIs of the first 200 default cases."""
    cases = default_set[0][:200]
    rois = Parallel(n_jobs=2, prefer="threads")(delayed(lambda c: preprocess(c.image, c.box, size=64).image)(c)
                                                  for c in cases)
    return np.array([c.label for c in cases]), np.stack(rois)


def _auc(labels, values):
    """Separation by one statistic, whichever direction: max(AUC, 1 - AUC)."""
    auc = roc_auc_score(labels, values)
    return max(auc, 1 - auc)


def test_a_small_set_has_the_documented_structure():
    cases = synthetic.generate(6, 2, seed=1)
    assert [c.case_id for c in cases] == [f"case_{i:04d}" for i in range(6)]
    assert [c.patient_id for c in cases] == [f"P{i:04d}" for i in range(6)]
    assert sum(c.label for c in cases) == 2
    for c in cases:
        assert c.image.shape == (460, 700) and c.image.dtype == np.uint16 and c.source == "synthetic"
        assert c.mask.dtype == bool and c.box == synthetic.box_of(c.mask)
        assert synthetic.SPACING_MM[0] <= c.spacing_mm <= synthetic.SPACING_MM[1]
        assert 0 < np.median(c.image) < 0.15 * np.percentile(c.image, 99)  # most of the field is air: dark noise


def test_default_set_is_quick_deterministic_and_case_k_does_not_depend_on_n(default_set):
    cases, cpu_seconds = default_set
    assert len(cases) == 500 and sum(c.label for c in cases) == 165
    assert cpu_seconds < 40, f"drawing 500 cases took {cpu_seconds:.1f} CPU seconds"
    small = synthetic.generate(12, 4, seed=0)
    for label in (0, 1):
        big_k = [c for c in cases if c.label == label]
        for k, case in enumerate(c for c in small if c.label == label):
            assert np.array_equal(case.image, big_k[k].image) and case.box == big_k[k].box
    again = synthetic.generate(12, 4, seed=0)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(small, again))
    other = synthetic.generate(12, 4, seed=1)
    assert not any(np.array_equal(a.image, b.image) for a, b in zip(small, other))


def test_lesion_diameters_follow_the_paper(default_set):
    cases, _ = default_set
    diameters = np.array([regionprops(c.mask.astype(np.uint8))[0].feret_diameter_max * c.spacing_mm for c in cases])
    assert diameters.min() >= 7.0 - 1.5 and diameters.max() <= 39.0 + 1.5  # mm, within a pixel or two
    assert 29 < diameters.mean() < 35 and 4 < diameters.std() < 9  # paper: 32 +- 7 mm


def test_signs_differ_by_class_but_overlap():
    signs = {label: [synthetic.sample_signs(label, np.random.default_rng([label, i])) for i in range(2000)]
             for label in (0, 1)}

    def rate(label, sign):
        return np.mean([sign(s) for s in signs[label]])

    for sign, benign_more_often in [(lambda s: s.breach, False), (lambda s: s.rim > 0, True),
                                    (lambda s: s.oedema > 0, False), (lambda s: s.periosteal != "none", False),
                                    (lambda s: s.transition_mm > 2, False), (lambda s: s.heterogeneity > 0.1, False)]:
        benign, malignant = rate(0, sign), rate(1, sign)
        assert (benign > malignant) == benign_more_often
        assert 0.02 < min(benign, malignant) and max(benign, malignant) < 0.98  # overlap: never all or none
    sizes = [np.array([s.diameter_mm for s in signs[label]]) for label in (0, 1)]
    assert min(s.min() for s in sizes) >= 7 and max(s.max() for s in sizes) <= 39


def test_no_single_global_statistic_separates_the_classes(default_set, default_rois):
    cases, _ = default_set
    labels = np.array([c.label for c in cases])
    boxes = np.array([c.box for c in cases], float)
    whole = {
        "image mean": [c.image.mean() for c in cases],
        "image std": [c.image.std() for c in cases],
        "lesion area (mm2)": [c.mask.sum() * c.spacing_mm**2 for c in cases],
        "box area": (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]),
        "box x": boxes[:, 0] + boxes[:, 2], "box y": boxes[:, 1] + boxes[:, 3],
    }
    roi_labels, rois = default_rois
    roi = {"ROI mean": rois.mean(axis=(1, 2)), "ROI std": rois.std(axis=(1, 2)),
           "ROI mask fraction": (rois > 0).mean(axis=(1, 2))}
    aucs = {name: _auc(labels, v) for name, v in whole.items()} | {name: _auc(roi_labels, v) for name, v in roi.items()}
    assert max(aucs.values()) < 0.75, aucs


def test_texture_features_learn_it_clearly_but_not_perfectly(default_rois):
    labels, rois = default_rois
    features = radiomics.feature_matrix(rois)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    p = cross_val_predict(radiomics.make_classifier(), features, labels, cv=folds, method="predict_proba")[:, 1]
    assert 0.75 < roc_auc_score(labels, p) < 0.97


def test_load_dataset_caches_the_synthetic_set(tmp_path, monkeypatch):
    monkeypatch.setenv("FEMUR_APP_CACHE", str(tmp_path))
    first = load_dataset("synthetic", n=3, n_malignant=1, seed=2)
    assert [p.name for p in tmp_path.iterdir()] == [f"synthetic_v{synthetic.GENERATOR_VERSION}_n3_m1_s2.npz"]
    monkeypatch.setattr(synthetic, "generate", None)  # a second call must not draw again
    second = load_dataset("synthetic", n=3, n_malignant=1, seed=2)
    assert second.skipped == []
    for a, b in zip(first, second):
        for field in ("case_id", "patient_id", "label", "box", "spacing_mm"):
            assert getattr(a, field) == getattr(b, field)
        assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)


def test_bad_class_counts_are_refused():
    with pytest.raises(ValueError, match=r"n_malignant must lie in \[0, n=4\], got 5"):
        synthetic.generate(4, 5)
