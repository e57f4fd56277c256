"""The one way in for data: ``load(source, settings, log) -> Prepared``, for a run's cases and its test set alike.

    source    "synthetic"        the built-in phantom set that ``settings`` names (data.n, data.n_malignant,
                                 data.synthetic_seed, data.null: one ``SyntheticSet``)
              "synthetic:SEED"   a fresh synthetic set of the same size and kind drawn with another seed: the
                                 independent test set of ``--test-data synthetic:SEED``; its phantoms come from
                                 independent random streams, so no test patient is a training patient by
                                 construction, and their ids are prefixed ``test-sSEED-`` so that they cannot be
                                 mistaken for the training set's
              a folder           images with ``labels.csv`` or ``benign/`` and ``malignant/`` subfolders
                                 (``femur_app.data.loaders``), read with the settings' skip_bad, allow_outside and
                                 max_pixels
    settings  the run's ``[data]`` section, ``DataConfig`` (below): input size, ROI, the synthetic set, reading options
    log       a function taking one line: every file a folder skips and every warning goes there, naming the role
              ("input", or "test input" with ``test=True``); ``train.log`` in a run

The cases are then prepared (``femur_app.data.dataset.prepare``: preprocessed, cached on disk, masks carried into
the ROI's coordinates). A synthetic ``Prepared`` carries its ``SyntheticSet`` and the signs each case was drawn
with, so that nothing later draws them again. A test set must hold both classes (``DataError`` otherwise), so that
sensitivity, specificity and AUC are defined on it.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from femur_app.data import folder_memory
from femur_app.data.dataset import Prepared, prepare
from femur_app.data.loaders import load_folder
from femur_app.data.preprocess import ROIS
from femur_app.data.synthetic import SyntheticSet
from femur_app.errors import DataError, problem

SYNTHETIC = "synthetic"
MAX_SEED = 2**32 - 1  # NumPy's and scikit-learn's seed range (random_state)
MAX_CASES = 100_000  # a synthetic set of data.n cases; its memory is checked against the budget too
MAX_MAX_PIXELS = 2**31  # data.max_pixels: 46,341 x 46,341 pixels, 16 GiB of float64


@dataclass(frozen=True)
class DataConfig:
    """The ``[data]`` section of a run's configuration (``femur_app.config``): what the run reads, and how."""

    source: str  # "synthetic" or a data folder
    n: int
    n_malignant: int
    synthetic_seed: int
    input_size: int
    skip_bad: bool
    max_pixels: int  # folder data: images of more pixels are refused before decoding (0: data.limits.MAX_PIXELS)
    allow_outside: bool  # folder data: labels.csv may name files outside the folder (absolute paths, ..)
    null: bool  # synthetic set: same labels and counts, no class signal (femur_app.data.synthetic)
    test_source: str  # "" (none), a data folder, or "synthetic:SEED": the independent test set
    modality: str  # "" = from the data (synthetic: MRI phantoms; a folder: its import_summary.json), else as given
    roi: str  # what the network sees: "otsu" (the paper's mask), "box" (the plain crop) or "mask" (the true mask)

    def problems(self) -> list[str]:
        found = []
        if self.roi not in ROIS:
            found.append(problem("data.roi", self.roi, f"expected one of {ROIS}"))
        if self.test_source.startswith("synthetic"):
            seed = synthetic_seed_of(self.test_source)
            if seed is None or seed > MAX_SEED:
                found.append(problem("data.test_source", self.test_source, "expected a folder or synthetic:SEED, SEED "
                                                                           f"from 0 to {MAX_SEED}, e.g. synthetic:2"))
            elif seed == self.synthetic_seed and self.source == "synthetic":
                found.append(problem("data.test_source", self.test_source, "the training set's own synthetic_seed; "
                                                                           "expected another seed"))
        if not 2 <= self.n <= MAX_CASES:
            found.append(problem("data.n", self.n, f"expected 2 to {MAX_CASES:,} synthetic cases"))
        elif self.source == "synthetic" and not 0 < self.n_malignant < self.n:
            found.append(problem("data.n_malignant", self.n_malignant, f"expected 0 < n_malignant < data.n = {self.n}"))
        if not 0 <= self.synthetic_seed <= MAX_SEED:
            found.append(problem("data.synthetic_seed", self.synthetic_seed, f"expected 0 to {MAX_SEED} (NumPy's "
                                                                             "seed range)"))
        if self.input_size < 1:
            found.append(problem("data.input_size", self.input_size, "expected a positive number of pixels"))
        if not 0 <= self.max_pixels <= MAX_MAX_PIXELS:
            found.append(problem("data.max_pixels", self.max_pixels, f"expected 0 (the default cap) or a pixel count "
                                                                     f"up to {MAX_MAX_PIXELS:,}"))
        return found

    def synthetic_set(self, seed: int | None = None) -> SyntheticSet:
        """The synthetic set these settings name (another ``seed``: the same size and kind, drawn afresh)."""
        return SyntheticSet(self.n, self.n_malignant, self.synthetic_seed if seed is None else seed, self.null)


def synthetic_seed_of(source: str) -> int | None:
    """SEED of ``"synthetic:SEED"``; None for anything else."""
    match = re.fullmatch(r"synthetic:([0-9]{1,20})", source)
    return int(match.group(1)) if match else None


def check_folders(settings: DataConfig) -> None:
    """DataError unless every folder that ``settings`` read (``source``, ``test_source``) is a folder whose images
    fit in the memory budget (``folder_memory``, from their headers): a run checks this before it makes its run
    folder, so that a typo in --data or --test-data, or a folder too large, leaves nothing behind."""
    for source, option in ((settings.source, "--data"), (settings.test_source, "--test-data")):
        if source and source != SYNTHETIC and synthetic_seed_of(source) is None:
            folder_memory.check(source, settings.input_size, settings.max_pixels or None, settings.allow_outside,
                                option)


def load(source: str, settings: DataConfig, log=None, *, test: bool = False) -> Prepared:
    """The cases of ``source`` (the module docstring), prepared as ``settings`` say; ``test``: an independent test
    set (its skipped files are logged as "test input", and it must hold both classes)."""
    role = "test input" if test else "input"
    seed = synthetic_seed_of(source)
    if source == SYNTHETIC or seed is not None:
        spec = settings.synthetic_set(seed)
        cases = spec.cached_cases()
        if seed is None:
            description = (f"built-in synthetic femur-MRI phantoms (femur_app.data.synthetic, synthetic_seed "
                           f"{spec.seed}{', a null set: no class signal' if spec.null else ''}), not patient data")
        else:
            cases = [dataclasses.replace(c, case_id=f"test-s{seed}-{c.case_id}",
                                         patient_id=f"test-s{seed}-{c.patient_id}") for c in cases]
            description = (f"a fresh synthetic set (synthetic_seed {seed}, {spec.n} cases, {spec.n_malignant} "
                           f"malignant{', null: no class signal' if spec.null else ''}), disjoint from the training "
                           "set by construction (independent random streams)")
        signs = spec.signs()
    else:
        cases = load_folder(source, skip_bad=settings.skip_bad, allow_outside=settings.allow_outside,
                            max_pixels=settings.max_pixels or None, input_size=settings.input_size)
        for skipped in cases.skipped:
            _log(log, f"skipped {role} {skipped.path}: {skipped.reason}")
        for warning in cases.warnings:
            _log(log, f"{role} warning: {warning}")
        description = f"image folder {Path(source).resolve()}"
        if cases.skipped:
            description += f" ({len(cases.skipped)} unreadable file(s) skipped, listed in train.log)"
        spec, signs = None, None
    if test and {c.label for c in cases} != {0, 1}:
        raise DataError(f"--test-data {source}: holds only {sorted({c.label for c in cases})} labels (expected "
                        "benign and malignant cases, so that sensitivity, specificity and AUC are defined)")
    return prepare(cases, size=settings.input_size, description=description, roi=settings.roi, source=source,
                   synthetic=spec, signs=signs)


def _log(log, line: str) -> None:
    if log is not None:
        log(line)
