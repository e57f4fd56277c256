"""The same picture in the training and the test set: near-duplicate images across the two, named pair by pair.

A shared patient id is the one overlap two data sets can declare, and two separate imports never share one (the
BTXRD importer names its stand-in patients after their first image, within each import). A radiograph published
twice, once in each folder, is nevertheless the same case on both sides, and a test on it is not independent.
``near_duplicates`` compares every training image with every test image by their whole-image average hashes
(``femur_app.data.image_hash``: 256 bits, near duplicates within ``MAX_DISTANCE`` bits) and names each pair
with its distance. It cannot see a second view of the same lesion: that is a different image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femur_app.data.dataset import Prepared
from femur_app.data.image_hash import HASH_SIZE, MAX_DISTANCE, hamming

RULE = (f"whole-image average hashes ({HASH_SIZE} x {HASH_SIZE} = {HASH_SIZE ** 2} bits, "
        "`femur_app.data.image_hash`) at most {max_distance} bits apart")


@dataclass(frozen=True)
class NearDuplicate:
    train_case: str
    test_case: str
    distance: int  # Hamming distance of their hashes, in bits


def near_duplicates(train: Prepared, test: Prepared, max_distance: int = MAX_DISTANCE) -> list[NearDuplicate]:
    """Every (training image, test image) pair whose hashes differ in at most ``max_distance`` bits, closest
    first (then in the training set's order)."""
    distance = hamming(train.image_hashes, test.image_hashes)
    pairs = [NearDuplicate(str(train.case_ids[i]), str(test.case_ids[j]), int(distance[i, j]))
             for i, j in zip(*np.nonzero(distance <= max_distance))]
    return sorted(pairs, key=lambda pair: pair.distance)


def warning_line(pairs: list[NearDuplicate], max_distance: int = MAX_DISTANCE, shown: int = 10) -> str:
    """One line naming the pairs (the first ``shown``), for the console and train.log."""
    named = ", ".join(f"{p.train_case} ~ {p.test_case} ({p.distance} bits)" for p in pairs[:shown])
    more = f" and {len(pairs) - shown} more (report.md)" if len(pairs) > shown else ""
    return (f"warning: --test-data: {len(pairs)} training/test image pair(s) are near duplicates "
            f"({RULE.format(max_distance=max_distance)}): {named}{more}; if they are the same images, the test set "
            "is not independent")
