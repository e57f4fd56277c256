"""femur_app data: the Case record, the synthetic phantom set, folder loaders, preprocessing, augmentation,
normalisation and the prepared-array cache.

``load(source, settings, log) -> Prepared`` (``femur_app.data.source``) is the one way in for a run: the synthetic
set, a data folder and a test set alike, prepared. The raw cases of each kind of source come from
``SyntheticSet(...).cases()`` (``femur_app.data.synthetic``) and ``load_folder`` (``femur_app.data.loaders``), a
``LoadResult``: a ``list[Case]`` with the files it skipped under ``skip_bad=True`` in ``skipped``.
"""
from __future__ import annotations

from femur_app.data.dataset import (BENIGN, LABEL_NAMES, MALIGNANT, Case, Prepared, box_of, default_cache_dir, prepare,
                                    prepare_arrays)
from femur_app.data.loaders import DataError, LoadResult, Skipped, load_folder
from femur_app.data.source import DataConfig, load
from femur_app.data.synthetic import SyntheticSet

__all__ = ["BENIGN", "MALIGNANT", "LABEL_NAMES", "Case", "DataConfig", "DataError", "LoadResult", "Prepared", "Skipped",
           "SyntheticSet", "box_of", "default_cache_dir", "load", "load_folder", "prepare", "prepare_arrays"]
