"""femur_app.data.normalise and femur_app.evaluation.predictions: the two pieces every stage shares, by hand."""
import numpy as np
import pytest

from femur_app.data.normalise import Normalisation
from femur_app.errors import DataError
from femur_app.evaluation.predictions import Predictions


def test_statistics_and_both_directions_by_hand():
    X = np.array([[[[1.0, 3.0]], [[2.0, 2.0]]], [[[5.0, 7.0]], [[2.0, 2.0]]]], np.float32)  # (N=2, C=2, 1, 2)
    n = Normalisation.of(X)
    # channel 0: values 1, 3, 5, 7 -> mean 4, population sd sqrt(5); channel 1 has no spread -> sd 1
    np.testing.assert_array_equal(n.mean, np.array([4.0, 2.0], np.float32))
    np.testing.assert_array_equal(n.std, np.array([np.sqrt(5.0), 1.0], np.float32))
    z = n.apply(X)
    np.testing.assert_allclose(z[:, 0].ravel(), (np.array([1, 3, 5, 7]) - 4) / np.sqrt(5), rtol=1e-6)
    np.testing.assert_array_equal(z[:, 1], 0.0)
    np.testing.assert_allclose(n.invert(z), X, rtol=1e-6)
    assert z.dtype == np.float32


def test_the_checkpoint_form_is_exact():
    n = Normalisation(np.array([0.123456789], np.float32), np.array([0.3], np.float32))
    back = Normalisation.from_dict(n.to_dict())
    assert back.mean.tobytes() == n.mean.tobytes() and back.std.tobytes() == n.std.tobytes()


def test_predictions_csv_round_trips_every_float(tmp_path):
    rng = np.random.default_rng(3)
    probs = rng.random(7)
    p = Predictions(np.array([f"c{i}" for i in range(7)]), np.array(list("aabbcdd")), np.array([1, 2, 1, 2, 1, 2, 1]),
                    np.array([0, 1, 1, 0, 0, 1, 0]), probs, 0.4)
    p.write_csv(tmp_path / "predictions.csv")
    lines = (tmp_path / "predictions.csv").read_text().splitlines()
    assert lines[0] == "case_id,patient_id,fold,label,prob_malignant,pred"
    assert lines[1] == f"c0,a,1,0,{float(probs[0])!r},{int(probs[0] >= 0.4)}"
    back = Predictions.read_csv(tmp_path / "predictions.csv", threshold=0.4)
    assert back.probs.tolist() == probs.tolist()  # bit for bit
    np.testing.assert_array_equal(back.preds, (probs >= 0.4).astype(int))
    (tmp_path / "other.csv").write_text("case,prob\nc0,0.5\n")
    with pytest.raises(DataError, match=r"other.csv: columns \['case', 'prob'\] \(expected \['case_id'"):
        Predictions.read_csv(tmp_path / "other.csv")
