"""femur_app data: the Case record, the synthetic phantom set, folder loaders, preprocessing, augmentation,
normalisation and the prepared-array cache.

``load_dataset`` is the one entry point: ``"synthetic"`` draws the built-in phantom set, anything else is a
data folder (see ``femur_app.data.loaders``). It always returns a ``LoadResult``: a ``list[Case]`` with a
``skipped`` attribute listing every file left out under ``skip_bad=True`` (always empty for the synthetic set).
"""
from __future__ import annotations

from femur_app.data.dataset import (BENIGN, LABEL_NAMES, MALIGNANT, Case, Prepared, box_of, default_cache_dir, prepare,
                                    prepare_arrays)
from femur_app.data.loaders import DataError, LoadResult, Skipped, load_folder
from femur_app.data.synthetic import cached_generate, generate

SYNTHETIC = "synthetic"


def load_dataset(source=SYNTHETIC, *, n: int = 500, n_malignant: int = 165, seed: int = 0,
                 skip_bad: bool = False, cache: bool = True, null: bool = False) -> LoadResult:
    """The synthetic set (``n``, ``n_malignant``, ``seed``, ``null`` apply) or the cases of a data folder.

    The synthetic set is cached on disk (``synthetic.cached_generate``) unless ``cache=False``. With
    ``skip_bad`` a folder's bad files are skipped, logged and listed in ``result.skipped``; without it the first
    bad file raises ``DataError``.
    """
    if str(source) == SYNTHETIC:
        draw = cached_generate if cache else generate
        return LoadResult(draw(n, n_malignant, seed, null=null))
    return load_folder(source, skip_bad=skip_bad)


__all__ = ["BENIGN", "MALIGNANT", "LABEL_NAMES", "Case", "DataError", "LoadResult", "Prepared", "Skipped",
           "box_of", "cached_generate", "default_cache_dir", "generate", "load_dataset", "load_folder", "prepare",
           "prepare_arrays"]
