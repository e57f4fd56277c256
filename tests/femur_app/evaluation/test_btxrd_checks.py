"""The BTXRD report checks' two rules (femur_app.evaluation.btxrd), worked by hand; the whole section is checked
on a run in tests/femur_app/evaluation/test_test_set.py."""
import numpy as np

from femur_app.evaluation.btxrd import centre_only_scores, clean_cases


def test_centre_only_scores_use_the_training_cases_of_each_fold():
    """Fold 1 holds cases 0 (a), 2 (b), 5 (c) and trains on 1, 3, 4: a's share 0/2, b's 1/1, c unseen -> the
    training share overall 1/3. Fold 2 holds 1, 3, 4 and trains on 0, 2, 5: a 1/1, b 1/1."""
    centres = np.array(["a", "a", "b", "b", "a", "c"])
    labels = np.array([1, 0, 1, 1, 0, 0])
    folds = np.array([1, 2, 1, 2, 2, 1])
    np.testing.assert_allclose(centre_only_scores(centres, labels, folds), [0, 1, 1, 1, 1, 1 / 3])


def test_clean_cases_are_those_whose_group_stays_in_one_fold():
    groups = np.array(["g1", "g1", "g2", "g3", "g3"])
    folds = np.array([1, 1, 2, 1, 2])
    assert clean_cases(groups, folds).tolist() == [True, True, True, False, False]
