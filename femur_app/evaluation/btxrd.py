"""What a run on a BTXRD import (``python -m femur_app.import_btxrd``) needs beside its metrics to be judged:
the centres, the subtypes and how much the result depends on the patient grouping.

Read from the import's ``labels.csv`` (its columns center, subtype, standin_patient and coarse_patient), for the
run's own out-of-fold predictions; None for any other data.

- **Centres**: cases, malignant cases and prevalence per centre. The three BTXRD centres differ in case mix, so a
  model can score by recognising a centre's images. The *centre-only baseline* measures how far that alone goes:
  within each fold, every held-out case scores the malignant share of its centre among the fold's training cases
  (the training share overall for a centre the fold did not train on); the pooled AUC of these out-of-fold scores,
  with the run's patient-bootstrap interval. A CNN not well above it may be reading the centre.
- **Subtypes**: per subtype, the cases and the share the run classified correctly at its threshold - the
  sensitivity for a malignant subtype, the specificity for a benign one - with Wilson 95% intervals.
- **Groupings**: the run's folds were grouped by ``patient_id``, one of the import's two groupings (stand-in
  patients, or the coarse groups of centre, age, gender and diagnosis). For each grouping: its groups, images per
  group, and the AUC over the cases whose group lies wholly inside their own fold - the cases that grouping says
  were not leaked to, with its patient-bootstrap interval. For the grouping the run used that is every case; for
  the other it is the part of the run the stricter (or looser) grouping would also accept. A fair AUC should not
  drop on the coarse-clean cases; a clear drop points to leakage between views of one patient. The subset is
  not a random one (cases alone in their coarse group are over-represented), so the full check is a second run on
  an import made with ``--grouping coarse``.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from femur_app.data.dataset import Prepared
from femur_app.data.loaders import case_columns
from femur_app.evaluation.metrics import Estimate, auc, patient_bootstrap, wilson
from femur_app.evaluation.predictions import Predictions

COLUMNS = ("center", "subtype", "standin_patient", "coarse_patient")
GROUPINGS = {"stand-in patients": "standin_patient", "coarse groups (centre, age, gender, diagnosis)": "coarse_patient"}
BOOTSTRAP_METHOD = "patient bootstrap percentile interval"


@dataclass(frozen=True)
class Centre:
    centre: str
    cases: int
    malignant: int
    prevalence: float


@dataclass(frozen=True)
class Subtype:
    subtype: str
    label: int  # 1 malignant, 0 benign
    cases: int
    correct: int  # malignant: called malignant (sensitivity); benign: called benign (specificity)
    rate: float
    ci95: tuple[float, float]


@dataclass(frozen=True)
class Grouping:
    name: str
    column: str
    used_by_run: bool  # the run's folds were grouped by it
    groups: int
    images_per_group: dict[str, int]  # {images: how many groups hold that many}
    clean_cases: int  # cases whose group lies wholly inside their own fold
    clean_auc: Estimate


@dataclass(frozen=True)
class BtxrdChecks:
    centres: list[Centre]
    centre_only_auc: Estimate
    subtypes: list[Subtype]
    groupings: list[Grouping]


def centre_only_scores(centres: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each case's out-of-fold score: the malignant share of its centre among its fold's training cases."""
    scores = np.empty(len(labels))
    for fold in np.unique(folds):
        held, train = folds == fold, folds != fold
        overall = labels[train].mean()
        for centre in np.unique(centres[held]):
            known = train & (centres == centre)
            scores[held & (centres == centre)] = labels[known].mean() if known.any() else overall
    return scores


def clean_cases(groups: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """True for a case whose group has no case in another fold."""
    folds_of = {}
    for group, fold in zip(groups, folds):
        folds_of.setdefault(group, set()).add(fold)
    return np.array([len(folds_of[group]) == 1 for group in groups])


def judge(data: Prepared, predictions: Predictions, *, bootstrap: int, seed: int) -> BtxrdChecks | None:
    """The checks of the module docstring for the run's out-of-fold ``predictions`` on ``data``; None unless
    ``data`` came from a folder whose labels.csv has the importer's columns."""
    if data.synthetic is not None or not data.source:
        return None
    columns = case_columns(data.source, COLUMNS)
    if columns is None or any(str(c) not in columns for c in predictions.case_ids):
        return None
    rows = [columns[str(c)] for c in predictions.case_ids]
    labels, probs, folds = predictions.labels, predictions.probs, predictions.folds
    patients = predictions.patient_ids

    def estimate(mask) -> Estimate:
        interval = patient_bootstrap(labels[mask], probs[mask], patients[mask], predictions.threshold, bootstrap, seed)
        return Estimate(auc(labels[mask], probs[mask]), interval["auc"], BOOTSTRAP_METHOD)

    centres = np.array([row["center"] for row in rows])
    centre_rows = [Centre(c, int((centres == c).sum()), int(labels[centres == c].sum()),
                          float(labels[centres == c].mean())) for c in sorted(set(centres))]
    scores = centre_only_scores(centres, labels, folds)
    interval = patient_bootstrap(labels, scores, patients, predictions.threshold, bootstrap, seed)
    centre_only = Estimate(auc(labels, scores), interval["auc"], BOOTSTRAP_METHOD)

    called = probs >= predictions.threshold
    subtypes = []
    counts = Counter((row["subtype"] or "none", int(y)) for row, y in zip(rows, labels))
    for (subtype, label), n in sorted(counts.items(), key=lambda item: (-item[0][1], item[0][0])):
        cases = np.array([(row["subtype"] or "none") == subtype for row in rows]) & (labels == label)
        correct = int((called[cases] == bool(label)).sum())
        subtypes.append(Subtype(subtype, label, n, correct, correct / n, wilson(correct, n)))

    groupings = []
    for name, column in GROUPINGS.items():
        groups = np.array([row[column] for row in rows])
        clean = clean_cases(groups, folds)
        groupings.append(Grouping(name, column, bool(np.array_equal(groups, patients)), len(set(groups)),
                                  {str(n): k for n, k in sorted(Counter(Counter(groups).values()).items())},
                                  int(clean.sum()), estimate(clean)))
    return BtxrdChecks(centre_rows, centre_only, subtypes, groupings)
