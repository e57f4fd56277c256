"""An average hash of a whole image: the same picture found again in another data set.

``average_hash(pixels)``: the image divided into a 16 x 16 grid of cells (row and column boundaries at
``floor(k * H / 16)`` and ``floor(k * W / 16)``, so every pixel falls in exactly one cell whatever the image's
size), each cell's mean intensity, and one bit per cell: brighter than the mean of the 256 cell means. Two
images are near duplicates when their hashes differ in at most ``MAX_DISTANCE`` of the 256 bits (the Hamming
distance). The hash survives rescaling, re-encoding, noise and a change of brightness or contrast (none moves a
cell across the mean by much); it does not survive cropping, rotation or flipping, and a second view of the same
lesion is a different image to it. The threshold, about 10 % of the bits, was chosen by reasoning, as the BTXRD
importer's difference-hash threshold was (``femur_app.data.btxrd``), not tuned on any data set.
"""
from __future__ import annotations

import numpy as np

HASH_SIZE = 16
MAX_DISTANCE = 25  # of HASH_SIZE ** 2 = 256 bits


def average_hash(pixels: np.ndarray, size: int = HASH_SIZE) -> np.ndarray:
    """``size * size`` bools, row by row: each cell's mean above the mean of all cells (module docstring)."""
    image = np.asarray(pixels, dtype=np.float64)
    if image.ndim == 3:  # channels last (H, W, C): their mean
        image = image.mean(axis=2)
    if min(image.shape) < size:  # a tiny image: each pixel repeated, so that every cell holds one
        image = np.repeat(np.repeat(image, -(-size // image.shape[0]), 0), -(-size // image.shape[1]), 1)
    height, width = image.shape
    rows = (np.arange(size) * height) // size
    columns = (np.arange(size) * width) // size
    sums = np.add.reduceat(np.add.reduceat(image, rows, axis=0), columns, axis=1)
    counts = np.outer(np.diff(np.append(rows, height)), np.diff(np.append(columns, width)))
    means = sums / counts
    return (means > means.mean()).ravel()


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The Hamming distance of every row of ``a`` (M, bits) to every row of ``b`` (N, bits): (M, N) ints."""
    a, b = np.asarray(a, dtype=np.int32), np.asarray(b, dtype=np.int32)
    return a @ (1 - b).T + (1 - a) @ b.T
