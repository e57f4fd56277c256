"""How far predicted probabilities can be taken at their word: reliability diagram and expected calibration error.

Cases are grouped into B equal-width bins of predicted P(malignant). For bin b with n_b cases, mean predicted
probability conf_b and observed malignant fraction acc_b::

    ECE = sum_b (n_b / N) * |acc_b - conf_b|

A perfectly calibrated model has acc_b = conf_b in every bin (the diagonal of the reliability diagram), so
ECE = 0. Empty bins contribute nothing.
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


def plot_reliability(rel: Reliability, path, title: str = "Reliability diagram"):
    """Save the reliability diagram (observed vs predicted, with the diagonal and bin counts) as a PNG."""
    from femur_app.reporting.plots import plt, save_figure

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.5, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    filled = rel.counts > 0
    top.plot(rel.mean_predicted[filled], rel.observed_fraction[filled], "o-", label=f"model (ECE {rel.ece:.3f})")
    top.set_ylabel("observed malignant fraction")
    top.set_title(title)
    top.legend(loc="upper left")
    centres = (rel.bin_edges[:-1] + rel.bin_edges[1:]) / 2
    bottom.bar(centres, rel.counts, width=np.diff(rel.bin_edges) * 0.9, color="tab:blue", alpha=0.6)
    bottom.set_xlabel("predicted P(malignant)")
    bottom.set_ylabel("cases")
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
