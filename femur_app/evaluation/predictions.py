"""``predictions.csv``: one row per case with its out-of-fold P(malignant) - its one writer and its one reader.

    case_id,patient_id,fold,label,prob_malignant,pred

``label`` and ``pred`` are 1 = malignant, 0 = benign; ``pred`` is ``prob_malignant >= threshold``. Probabilities
are written with ``repr``, so reading the file back gives the same floats.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from femur_app.errors import DataError
from minicnn.serialize import write_text_atomic

COLUMNS = ["case_id", "patient_id", "fold", "label", "prob_malignant", "pred"]


@dataclass
class Predictions:
    case_ids: np.ndarray  # str (N,)
    patient_ids: np.ndarray  # str (N,)
    folds: np.ndarray  # int (N,), 1-based
    labels: np.ndarray  # int (N,)
    probs: np.ndarray  # float64 (N,)
    threshold: float

    @property
    def preds(self) -> np.ndarray:
        return (self.probs >= self.threshold).astype(int)

    def write_csv(self, path) -> Path:
        rows = zip(self.case_ids, self.patient_ids, self.folds, self.labels, self.probs, self.preds)
        return write_text_atomic(path, csv_text(COLUMNS, [[c, p, int(f), int(y), repr(float(q)), int(d)]
                                                          for c, p, f, y, q, d in rows]))

    @classmethod
    def read_csv(cls, path, threshold: float = 0.5) -> Predictions:
        path = Path(path)
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != COLUMNS:
                raise DataError(f"{path}: columns {reader.fieldnames} (expected {COLUMNS})")
            rows = list(reader)
        return cls(np.array([r["case_id"] for r in rows]), np.array([r["patient_id"] for r in rows]),
                   np.array([int(r["fold"]) for r in rows]), np.array([int(r["label"]) for r in rows]),
                   np.array([float(r["prob_malignant"]) for r in rows]), threshold)


def csv_text(header: list[str], rows: list[list]) -> str:
    """CSV text with ``\\n`` line ends."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
