"""femur_app.training.folds: patient-grouped, label-stratified folds."""
import numpy as np
import pytest

from femur_app.training.folds import assign_folds, check_grouping


def paper_like_cohort():
    """500 cases, 165 malignant, one per patient (the paper's cohort shape)."""
    labels = np.zeros(500, np.int64)
    labels[np.random.default_rng(3).permutation(500)[:165]] = 1
    return labels, np.array([f"P{i:03d}" for i in range(500)])


def test_ten_folds_of_the_paper_cohort_are_stratified():
    labels, patients = paper_like_cohort()
    folds = assign_folds(labels, patients, 10, seed=0)
    assert sorted(np.unique(folds)) == list(range(1, 11))
    assert sorted(np.bincount(folds)[1:]) == [50] * 10
    malignant = [int(labels[folds == f].sum()) for f in range(1, 11)]
    assert sorted(malignant) == [16] * 5 + [17] * 5  # 165 spread as evenly as integers allow


def test_patients_with_several_cases_stay_in_one_fold():
    rng = np.random.default_rng(1)
    patients = np.repeat([f"P{i:02d}" for i in range(60)], rng.integers(1, 5, 60))
    per_patient = {p: int(rng.random() < 0.35) for p in np.unique(patients)}
    labels = np.array([per_patient[p] for p in patients])
    folds = assign_folds(labels, patients, 5, seed=7)
    for patient in np.unique(patients):
        assert len(np.unique(folds[patients == patient])) == 1, patient
    assert all(0 < labels[folds == f].sum() < (folds == f).sum() for f in range(1, 6))  # both classes per fold


def test_the_split_is_a_function_of_the_seed():
    labels, patients = paper_like_cohort()
    assert np.array_equal(assign_folds(labels, patients, 10, 0), assign_folds(labels, patients, 10, 0))
    assert not np.array_equal(assign_folds(labels, patients, 10, 0), assign_folds(labels, patients, 10, 1))


def test_check_grouping_names_a_split_patient():
    with pytest.raises(AssertionError, match=r"patients in more than one fold: \['B'\]"):
        check_grouping(np.array([1, 1, 2, 2, 1]), np.array(["A", "A", "B", "C", "B"]))
    with pytest.raises(AssertionError, match=r"cases without a fold: \[1\]"):
        check_grouping(np.array([1, 0]), np.array(["A", "B"]))


def test_too_few_patients_of_a_class_is_an_error():
    labels = np.array([0] * 20 + [1] * 2)
    with pytest.raises(ValueError, match=r"^cv.folds 3: more folds than patients of a class, 20 benign and 2 malignant \(expected cv.folds <= 2, so"):
        assign_folds(labels, np.arange(22).astype(str), 3, seed=0)
