"""A classical radiomics baseline: hand-crafted features of the preprocessed ROI + logistic regression.

This is the kind of pipeline the paper says deep learning replaces, built honestly so the comparison means
something. From each preprocessed ROI (2-D, the lesion region non-zero, background zero) it measures:

- first-order statistics of the ROI's intensities: mean, standard deviation, skewness, kurtosis, histogram
  entropy, 10th/50th/90th percentiles and the interquartile range;
- shape of the ROI mask (scikit-image ``regionprops``): area fraction, eccentricity, solidity and compactness
  (perimeter^2 / (4 pi area), 1 for a disc, larger for irregular outlines);
- grey-level co-occurrence (GLCM) texture at distances 1, 2 and 4 pixels, averaged over 0/45/90/135 degrees:
  contrast, dissimilarity, homogeneity, energy, correlation;
- the histogram of uniform local binary patterns (P = 8, R = 1).

The classifier is scikit-learn's standardise-then-L2-logistic-regression pipeline, fitted on the training fold
only, so the baseline sees exactly what the CNN sees.
"""
from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from scipy import stats
from skimage.feature import graycomatrix, graycoprops, local_binary_pattern
from skimage.measure import label, regionprops
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

GLCM_DISTANCES = (1, 2, 4)
GLCM_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
GLCM_PROPS = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation")
GLCM_LEVELS = 32
LBP_POINTS = 8

FEATURE_NAMES = (
    ["mean", "std", "skewness", "kurtosis", "entropy", "p10", "p50", "p90", "iqr"]
    + ["area_fraction", "eccentricity", "solidity", "compactness"]
    + [f"glcm_{prop}_d{d}" for d in GLCM_DISTANCES for prop in GLCM_PROPS]
    + [f"lbp_{k}" for k in range(LBP_POINTS + 2)]
)


def first_order(values: np.ndarray) -> list[float]:
    """Intensity statistics of the ROI pixels (a 1-D array)."""
    if values.size < 2 or np.ptp(values) == 0:
        skew = kurt = 0.0
    else:
        skew, kurt = float(stats.skew(values)), float(stats.kurtosis(values))
    hist, _ = np.histogram(values, bins=GLCM_LEVELS, range=(0.0, 1.0))
    p = hist[hist > 0] / values.size
    p10, p25, p50, p75, p90 = np.percentile(values, [10, 25, 50, 75, 90])
    return [float(values.mean()), float(values.std()), skew, kurt, float(-(p * np.log2(p)).sum()),
            float(p10), float(p50), float(p90), float(p75 - p25)]


def shape_features(mask: np.ndarray) -> list[float]:
    """Area fraction, eccentricity, solidity and compactness of the largest connected part of the mask."""
    regions = regionprops(label(mask))
    if not regions:
        return [0.0, 0.0, 0.0, 0.0]
    region = max(regions, key=lambda r: r.area)
    compactness = region.perimeter ** 2 / (4 * np.pi * region.area) if region.area else 0.0
    return [float(mask.mean()), float(region.eccentricity), float(region.solidity), float(compactness)]


def texture_features(image: np.ndarray, mask: np.ndarray) -> list[float]:
    """GLCM properties (per distance, averaged over four angles) and the uniform-LBP histogram inside the mask."""
    levels = np.clip((image * GLCM_LEVELS).astype(np.int64), 0, GLCM_LEVELS - 1) + 1  # 1..32; 0 = background
    levels[~mask] = 0
    glcm = graycomatrix(levels.astype(np.uint8), GLCM_DISTANCES, GLCM_ANGLES, levels=GLCM_LEVELS + 1, symmetric=True)
    glcm = glcm[1:, 1:].astype(np.float64)  # drop pairs that touch the background
    totals = glcm.sum(axis=(0, 1), keepdims=True)
    glcm = glcm / np.where(totals > 0, totals, 1.0)
    out = []
    for d in range(len(GLCM_DISTANCES)):
        for prop in GLCM_PROPS:
            value = graycoprops(glcm[:, :, d : d + 1, :], prop)
            out.append(float(np.nan_to_num(value).mean()))
    lbp = local_binary_pattern((image * 255).astype(np.uint8), LBP_POINTS, 1, method="uniform")
    hist = np.bincount(lbp[mask].astype(np.int64), minlength=LBP_POINTS + 2)[: LBP_POINTS + 2]
    out.extend((hist / max(1, hist.sum())).tolist())
    return out


def features(image: np.ndarray) -> np.ndarray:
    """All features of one preprocessed ROI (2-D, values in [0, 1], background 0), in ``FEATURE_NAMES`` order."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"radiomics.features: expected a 2-D ROI, got shape {image.shape}")
    mask = image > 0
    values = image[mask] if mask.any() else image.ravel()
    if not mask.any():
        mask = np.ones_like(mask)
    row = first_order(values) + shape_features(mask) + texture_features(image, mask)
    return np.asarray(row, dtype=np.float64)


def feature_matrix(images, n_jobs: int = 1) -> np.ndarray:
    """Features of a stack of ROIs (N, H, W) or (N, 1, H, W) -> (N, len(FEATURE_NAMES))."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[:, 0]
    rows = Parallel(n_jobs=n_jobs)(delayed(features)(image) for image in images)
    return np.vstack(rows) if rows else np.zeros((0, len(FEATURE_NAMES)))


def make_classifier(C: float = 1.0):
    """Standardise, then L2-regularised logistic regression with balanced class weights."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000, class_weight="balanced"))


def fit_predict(train_features, train_labels, test_features, C: float = 1.0) -> np.ndarray:
    """Fit on the training fold only; return P(malignant) for the test fold."""
    model = make_classifier(C).fit(train_features, train_labels)
    return model.predict_proba(test_features)[:, 1]
