"""How far predicted probabilities can be taken at their word: reliability diagram and expected calibration error.

Cases are grouped into B equal-width bins of predicted P(malignant). For bin b with n_b cases, mean predicted
probability conf_b and observed malignant fraction acc_b::

    ECE = sum_b (n_b / N) * |acc_b - conf_b|

A perfectly calibrated model has acc_b = conf_b in every bin (the diagonal of the reliability diagram), so
ECE = 0. Empty bins contribute nothing.

Calibration slope and intercept (Cox 1958; the logistic recalibration model of TRIPOD). With
z = logit(p) = log(p / (1 - p)), the predicted probabilities clipped to [1e-6, 1 - 1e-6] so that z is finite::

    slope:      logit P(y = 1) = a + b z          b, fitted by maximum likelihood      (ideal 1; < 1: too extreme)
    intercept:  logit P(y = 1) = a + z            a alone, z as a fixed offset          (ideal 0; > 0: too low)

The second is "calibration in the large": the mean log-odds the predictions are off by. Both are fitted by
Newton's method on the log-likelihood (``logistic_fit``); a fit that does not converge (complete separation,
or a single class) gives NaN.

The slope's 95% interval is Wald's, b +- 1.96 se(b), with se(b) from the inverse observed information
(X^T diag(mu (1 - mu)) X)^-1 at the fit. The slope is *undefined* when the predictions barely vary: when the
standard deviation of z is below ``MIN_LOGIT_SD`` (0.1: every probability within about 2.5 percentage points of
the others near 0.5), a line through the (z, y) cloud rests on almost no spread in z, and its slope - however
large - says nothing about over- or under-confidence (a null run's near-constant predictions fit a slope of
-4.84). A fit that does not converge is undefined too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Reliability:
    bin_edges: np.ndarray  # (B + 1,)
    counts: np.ndarray  # (B,) cases per bin
    mean_predicted: np.ndarray  # (B,) NaN for empty bins
    observed_fraction: np.ndarray  # (B,) NaN for empty bins
    ece: float


def reliability(labels, probabilities, n_bins: int = 10) -> Reliability:
    """Bin the predictions and compute the expected calibration error."""
    labels = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    if labels.shape != p.shape or p.ndim != 1:
        raise ValueError(f"reliability: labels {labels.shape} and probabilities {p.shape} must be equal 1-D shapes")
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(f"reliability: probabilities must lie in [0, 1], got [{p.min()}, {p.max()}]")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1], right=True), 0, n_bins - 1)  # bin b holds (edge_b, edge_b+1]; 0 in bin 0
    counts = np.bincount(index, minlength=n_bins)
    sum_p = np.bincount(index, weights=p, minlength=n_bins)
    sum_y = np.bincount(index, weights=labels, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.where(counts > 0, sum_p / counts, np.nan)
        acc = np.where(counts > 0, sum_y / counts, np.nan)
    filled = counts > 0
    ece = float(np.sum(counts[filled] / max(1, p.size) * np.abs(acc[filled] - conf[filled])))
    return Reliability(edges, counts, conf, acc, ece)


PROBABILITY_CLIP = 1e-6
MIN_LOGIT_SD = 0.1  # below this spread of the predicted log-odds the slope is undefined (module docstring)
Z95 = 1.959963984540054


def logistic_fit(design: np.ndarray, labels: np.ndarray, offset: np.ndarray, iterations: int = 100) -> np.ndarray:
    """Maximum-likelihood beta of logit P(y = 1) = design @ beta + offset, by Newton's method.

    Gradient X^T (y - mu) and Hessian -X^T diag(mu (1 - mu)) X of the log-likelihood, mu = sigmoid(X beta + o);
    stops when a step changes no coefficient by more than 1e-10. Returns NaNs when it does not converge.
    """
    beta = np.zeros(design.shape[1])
    for _ in range(iterations):
        mu = 1.0 / (1.0 + np.exp(-(design @ beta + offset)))
        hessian = design.T @ (design * (mu * (1 - mu))[:, None])
        try:
            step = np.linalg.solve(hessian, design.T @ (labels - mu))
        except np.linalg.LinAlgError:
            break
        beta = beta + step
        if not np.isfinite(beta).all() or np.abs(beta).max() > 1e6:
            break
        if np.abs(step).max() < 1e-10:
            return beta
    return np.full(design.shape[1], np.nan)


def logits(probabilities) -> np.ndarray:
    """z = logit(p), p clipped to [PROBABILITY_CLIP, 1 - PROBABILITY_CLIP]."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    return np.log(p / (1 - p))


def slope_interval(labels, probabilities, slope: float) -> tuple[float, float]:
    """Wald's 95% interval of a fitted calibration slope (module docstring); (NaN, NaN) when it is undefined."""
    y, z = np.asarray(labels, dtype=np.float64), logits(probabilities)
    if not np.isfinite(slope) or z.std() < MIN_LOGIT_SD:
        return float("nan"), float("nan")
    design = np.column_stack([np.ones(len(y)), z])
    intercept = logistic_fit(design, y, np.zeros(len(y)))[0]
    mu = 1.0 / (1.0 + np.exp(-(intercept + slope * z)))
    information = design.T @ (design * (mu * (1 - mu))[:, None])
    se = float(np.sqrt(np.linalg.inv(information)[1, 1]))
    return slope - Z95 * se, slope + Z95 * se


def calibration_slope_intercept(labels, probabilities) -> dict:
    """{"slope", "intercept"} of the logistic recalibration model (see the module docstring)."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(probabilities, dtype=np.float64), PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"calibration: labels {y.shape} and probabilities {p.shape} must be equal 1-D shapes")
    z = np.log(p / (1 - p))
    ones = np.ones((len(y), 1))
    slope = logistic_fit(np.column_stack([ones, z]), y, np.zeros(len(y)))[1]
    intercept = logistic_fit(ones, y, z)[0]
    return {"slope": float(slope), "intercept": float(intercept)}


@dataclass
class Calibration:
    """How far a set of probabilities can be taken at their word: the reliability diagram (with the ECE), the
    calibration slope with its interval and the intercept."""

    reliability: Reliability
    slope: float
    intercept: float
    slope_ci95: tuple[float, float] = (float("nan"), float("nan"))  # Wald; NaN when the slope is undefined
    logit_sd: float = float("nan")  # the spread of the predicted log-odds that decides it

    @property
    def slope_defined(self) -> bool:
        """False when the predictions barely vary or the fit failed (module docstring): report "undefined"."""
        return bool(np.isfinite(self.slope) and self.logit_sd >= MIN_LOGIT_SD)


def calibration(labels, probabilities) -> Calibration:
    """The reliability diagram in ten bins and the logistic recalibration's slope and intercept."""
    fit = calibration_slope_intercept(labels, probabilities)
    return Calibration(reliability(labels, probabilities), fit["slope"], fit["intercept"],
                       slope_interval(labels, probabilities, fit["slope"]), float(logits(probabilities).std()))
