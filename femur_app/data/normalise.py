"""Standardisation of the network's input with the training fold's per-channel statistics.

For channel c, with mean m_c and standard deviation s_c of the training fold's preprocessed images::

    normalised = (x - m_c) / s_c          and back:   x = normalised * s_c + m_c

A channel without spread (s_c = 0) keeps s_c = 1, so it is shifted but never divided by zero. The statistics
travel with every model checkpoint, so that prediction standardises new images exactly as training did.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Normalisation:
    mean: np.ndarray  # float32 (C,)
    std: np.ndarray  # float32 (C,), every entry > 0

    @classmethod
    def of(cls, X: np.ndarray) -> Normalisation:
        """The per-channel statistics of images ``X`` (N, C, H, W), computed in float64, stored as float32."""
        mean = X.mean(axis=(0, 2, 3), dtype=np.float64)
        std = X.std(axis=(0, 2, 3), dtype=np.float64)
        return cls(mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32))

    @classmethod
    def from_dict(cls, values: dict) -> Normalisation:
        """From a checkpoint's ``{"mean": [...], "std": [...]}``."""
        return cls(np.asarray(values["mean"], np.float32), np.asarray(values["std"], np.float32))

    def to_dict(self) -> dict:
        return {"mean": [float(m) for m in self.mean], "std": [float(s) for s in self.std]}

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``(x - mean) / std`` per channel, for images (..., C, H, W)."""
        return (x - self.mean[:, None, None]) / self.std[:, None, None]

    def invert(self, x: np.ndarray) -> np.ndarray:
        """``x * std + mean`` per channel: the preprocessed image a normalised one came from."""
        return x * self.std[:, None, None] + self.mean[:, None, None]
