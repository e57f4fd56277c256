"""How the paper's Otsu mask agrees with the true lesion, read from the prepared ROIs without recomputing them.

The prepared ROI is 0 outside the Otsu mask (``femur_app.data.preprocess.apply_mask``; inside it the scaled
intensities are > 0 except where the signal itself is 0), so ``otsu = roi > 0``; the true mask has been carried
into the same coordinates (``Prepared.masks``). Per case, with O the Otsu mask and T the true lesion::

    Dice                 2 |O & T| / (|O| + |T|)
    lesion discarded     |T - O| / |T|        (lesion the network never sees)
    kept outside lesion  |O - T| / |O|        (what the mask keeps that is not lesion: muscle, cortex, marrow)

Summarised by the median per class over the cases with a non-empty true mask.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femur_app.data.dataset import LABEL_NAMES


@dataclass(frozen=True)
class Agreement:
    """Medians over one class's cases with a true mask (``by_class``), or one case's values (``agreement``)."""

    cases: int
    dice: float
    lesion_discarded: float
    kept_outside_lesion: float


def agreement(roi: np.ndarray, truth: np.ndarray) -> Agreement:
    otsu = roi > 0
    overlap = float((otsu & truth).sum())
    return Agreement(1, dice=2 * overlap / max(1.0, float(otsu.sum() + truth.sum())),
                     lesion_discarded=1 - overlap / float(truth.sum()),
                     kept_outside_lesion=float((otsu & ~truth).sum()) / max(1.0, float(otsu.sum())))


def by_class(X: np.ndarray, masks: list, labels: np.ndarray) -> dict[str, Agreement]:
    """{class name: Agreement} (medians over the class's cases with a true mask); empty when no case has one."""
    found = {}
    for i, truth in enumerate(masks):
        if truth is not None and truth.any():
            found.setdefault(LABEL_NAMES[int(labels[i])], []).append(agreement(X[i, 0], truth))
    return {name: Agreement(len(rows), *(float(np.median([getattr(r, key) for r in rows]))
                                         for key in ("dice", "lesion_discarded", "kept_outside_lesion")))
            for name, rows in sorted(found.items())}
