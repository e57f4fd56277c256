"""What a data set says about itself, for the report: its modality, how its patients were grouped, and - for the
synthetic set only - the best AUC any reader could reach on it (the generator's ceiling) and its sign rates.

``modality``: ``data.modality`` when set; else the synthetic set's "MRI (synthetic T1 phantoms)"; else a data
folder's ``import_summary.json`` (written by ``python -m femur_app.import_btxrd``) names it; else "not stated".
``patients``: how patient ids were formed (the synthetic set: one case per patient; a BTXRD import: the
importer's stand-in rule, since BTXRD has no patient identifier; any other folder: the ``patient_id`` column).
``ceiling_auc``: ``femur_app.data.synthetic.ceiling_auc`` for the very set in use, from the signs its ``Prepared``
carries (None for folder data): a cross-validated AUC above it would mean leakage.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from femur_app.data import synthetic
from femur_app.data.dataset import Prepared

SYNTHETIC_MODALITY = "MRI (synthetic T1-weighted phantoms, not patient data)"


def import_summary(folder) -> dict | None:
    """A data folder's ``import_summary.json``, or None when it has none or it is not a JSON object."""
    path = Path(folder) / "import_summary.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return summary if isinstance(summary, dict) else None


@dataclass(frozen=True)
class DataFacts:
    modality: str
    dataset: str
    patients: str  # how patient ids were formed
    ceiling_auc: float | None  # synthetic data only
    null: bool
    sign_rates: dict | None  # synthetic data only: {sign: (benign value, malignant value)}


def facts(data: Prepared, modality: str = "") -> DataFacts:
    """What a prepared data set says about itself (a synthetic set's ceiling and sign rates from the signs it
    carries); ``modality``: the configured one, "" for the data's own."""
    spec = data.synthetic
    if spec is not None:
        return DataFacts(modality or SYNTHETIC_MODALITY, f"synthetic phantoms, synthetic_seed {spec.seed}",
                         "one case per patient (the generator draws every case independently)",
                         synthetic.ceiling_auc(data.y, data.signs, null=spec.null), spec.null,
                         synthetic.sign_rates(data.y, data.signs))
    summary = import_summary(data.source) or {}
    patients = summary.get("patients", {})
    rule = patients.get("rule") if isinstance(patients, dict) else None
    return DataFacts(modality or str(summary.get("modality", "not stated")),
                     str(summary.get("dataset", f"image folder {data.source}")),
                     (f"stand-in patients formed by the importer (no patient identifier in the source): {rule}"
                      if rule else "as given in labels.csv's patient_id column"), None, False, None)
