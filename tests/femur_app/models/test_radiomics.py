"""The radiomics baseline: hand-checked feature values and a texture task it must solve."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from femur_app.models import radiomics


def test_constant_disc_has_textbook_values():
    yy, xx = np.mgrid[:64, :64]
    disc = ((yy - 32) ** 2 + (xx - 32) ** 2 <= 20 ** 2)
    image = np.where(disc, 0.5, 0.0)
    f = dict(zip(radiomics.FEATURE_NAMES, radiomics.features(image)))
    assert len(f) == len(radiomics.FEATURE_NAMES) == 9 + 4 + 15 + 10
    assert f["mean"] == 0.5 and f["std"] == 0.0 and f["iqr"] == 0.0 and f["entropy"] == 0.0
    assert f["area_fraction"] == pytest.approx(disc.mean())
    assert f["eccentricity"] == pytest.approx(0.0, abs=0.02)
    assert f["solidity"] > 0.95  # a digital disc fills 96% of its pixel convex hull
    for d in radiomics.GLCM_DISTANCES:  # one grey level: no contrast, perfect homogeneity and energy
        assert f[f"glcm_contrast_d{d}"] == 0.0
        assert f[f"glcm_homogeneity_d{d}"] == pytest.approx(1.0)
        assert f[f"glcm_energy_d{d}"] == pytest.approx(1.0)
    assert sum(f[f"lbp_{k}"] for k in range(10)) == pytest.approx(1.0)


def test_separates_smooth_from_rough_texture():
    rng = np.random.default_rng(60)
    images, labels = [], []
    for i in range(40):
        rough = i % 2
        base = 0.5 + 0.05 * rng.standard_normal((48, 48))
        if rough:
            base += 0.25 * rng.standard_normal((48, 48)) * rng.uniform(0.3, 1.0)
        images.append(np.clip(base, 0.01, 1.0))
        labels.append(rough)
    F = radiomics.feature_matrix(np.stack(images))
    labels = np.array(labels)
    prob = radiomics.fit_predict(F[::2][:10].tolist() + F[1::2][:10].tolist(), [0] * 10 + [1] * 10,
                                 np.vstack([F[::2][10:], F[1::2][10:]]))
    assert roc_auc_score([0] * 10 + [1] * 10, prob) == 1.0


def test_rejects_non_2d():
    with pytest.raises(ValueError, match=r"expected a 2-D ROI, got shape \(1, 4, 4\)"):
        radiomics.features(np.zeros((1, 4, 4)))
