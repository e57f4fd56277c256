"""The evaluation of one run, as one value: ``evaluate(...) -> RunEvaluation``; ``femur_app.reporting`` only
formats and writes it.

    the prepared data (with the synthetic set's signs)
  + the finished folds (``FinishedFold``: each fold's held-out predictions and learning curve)
  + the fold models (``FoldModel``, each loaded once)
  + the independent test set's prepared data, if there is one
  -> pooled out-of-fold predictions -> metrics with CIs (``metrics.summarize``), the operating point each fold
     fixed on its training cases (``operating_point``), calibration (the slope with its interval, or undefined),
     the baselines on the same folds (radiomics; on synthetic data the exact-sign reader and the generator's
     ceiling: ``baselines``), the Grad-CAM gallery and shares inside the lesion against its baseline maps, the
     data's facts (modality, ceiling), the Otsu mask against the true lesion, subgroups with AUC intervals and
     their ceilings, the worst false negatives, the counterfactual sign tests, the test set's evaluation (with
     its near-duplicate images), and on a BTXRD import its centres, subtypes and both groupings (``btxrd``)

It is computed from the folds that exist: all of them at the end of a run, or those finished so far while a run
goes on (``RunEvaluation.partial``). The cases of unfinished folds are then left out of everything that needs a
prediction; what needs none (the data's facts, the Otsu agreement) is of the whole data set.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from femur_app.data.dataset import Prepared
from femur_app.evaluation import btxrd, counterfactual, gallery, roi_agreement
from femur_app.evaluation.btxrd import BtxrdChecks
from femur_app.evaluation.baselines import Baselines, baselines
from femur_app.evaluation.calibration import Calibration, calibration
from femur_app.evaluation.counterfactual import SignTest
from femur_app.evaluation.data_facts import DataFacts, facts
from femur_app.evaluation.gallery import Gallery
from femur_app.evaluation.independent import IndependentResult, evaluate_independent
from femur_app.evaluation.metrics import Summary, summarize
from femur_app.evaluation.operating_point import OperatingPoint, operating_point
from femur_app.evaluation.predictions import Predictions
from femur_app.evaluation.roi_agreement import Agreement
from femur_app.evaluation.subgroups import Failure, Subgroup, failures, synthetic_subgroups
from femur_app.models.fold_model import FoldModel


@dataclass(frozen=True)
class Epoch:
    """One epoch of a fold's learning curve (``heldout_*``: on the held-out fold, for monitoring only)."""

    epoch: int
    lr: float
    train_loss: float
    train_acc: float
    heldout_loss: float
    heldout_acc: float
    heldout_auc: float | None  # None when the held-out fold holds one class (or a run from before it was recorded)
    l2_penalty: float
    seconds: float


@dataclass(frozen=True)
class FinishedFold:
    """A finished fold as its result file records it (``femur_app.training.run_folder``)."""

    fold: int
    status: str  # "finished" or "diverged"
    message: str
    epochs_run: int
    n_train: int
    n_test: int
    seconds: float
    peak_rss_mib: float | None
    case_ids: list[str]  # its held-out cases ...
    prob_malignant: list[float]  # ... and their P(malignant), in the same order
    history: list[Epoch]
    operating_threshold: float | None = None  # chosen on its training cases; None: a fold from before it was

    @classmethod
    def from_record(cls, record: dict) -> FinishedFold:
        """From a fold's result (the JSON of ``folds/fold_NN.json``; its run id and checksums are not kept)."""
        epoch_fields = {f.name for f in fields(Epoch)}
        history = [Epoch(**{"heldout_auc": None, **{k: v for k, v in h.items() if k in epoch_fields}})
                   for h in record["history"]]
        return cls(record["fold"], record["status"], record["message"], record["epochs_run"], record["n_train"],
                   record["n_test"], record["seconds"], record.get("peak_rss_mib"), record["case_ids"],
                   record["prob_malignant"], history, record.get("operating_threshold"))


@dataclass(frozen=True)
class RunEvaluation:
    """Everything a run's outputs say, computed; the fields are described in the module docstring."""

    folds_total: int
    finished: list[FinishedFold]  # by fold number
    data: Prepared  # the cases of the finished folds, in the data's order
    predictions: Predictions  # their out-of-fold predictions, in the same order
    summary: Summary
    calibration: Calibration
    operating_point: OperatingPoint | None  # each fold's threshold fixed on its training cases; None if unrecorded
    baselines: Baselines | None  # None when the evaluated cases hold one class
    gallery: Gallery
    data_facts: DataFacts  # of the whole data set
    otsu_vs_truth: dict[str, Agreement]  # by class; empty unless the ROI is Otsu's and true masks are known
    subgroups: list[Subgroup]  # synthetic data only, with AUC intervals and ceilings
    worst_false_negatives: list[Failure]
    counterfactuals: list[SignTest]  # synthetic data only
    test: IndependentResult | None
    btxrd: BtxrdChecks | None = None  # a BTXRD import only: centres, subtypes, both groupings

    @property
    def partial(self) -> bool:
        """True while some folds have not finished: a report of k of n folds."""
        return len(self.finished) < self.folds_total


def pooled_predictions(data: Prepared, finished: list[FinishedFold],
                       threshold: float) -> tuple[np.ndarray, Predictions]:
    """(positions in ``data`` of the finished folds' cases, their held-out predictions in ``data``'s order)."""
    position = {case_id: i for i, case_id in enumerate(data.case_ids)}
    probs, folds = np.full(len(data.y), np.nan), np.zeros(len(data.y), dtype=np.int64)
    for fold in finished:
        held = [position[c] for c in fold.case_ids]
        probs[held], folds[held] = fold.prob_malignant, fold.fold
    index = np.flatnonzero(folds > 0)
    predictions = Predictions(data.case_ids[index], data.patient_ids[index], folds[index], data.y[index],
                              probs[index], threshold)
    return index, predictions


def evaluate(data: Prepared, finished: list[FinishedFold], models: dict[int, FoldModel], *, folds_total: int,
             threshold: float, bootstrap: int, seed: int, roi: str, modality: str = "", test: Prepared | None = None,
             batch_size: int = 32, jobs: int = 1, null_model: FoldModel | None = None) -> RunEvaluation:
    """The evaluation of a run (module docstring) from its prepared ``data``, its ``finished`` folds and their
    ``models`` (by fold), of ``folds_total`` folds in all. ``threshold``, ``bootstrap``, ``seed``: cv.threshold,
    cv.bootstrap and the run's seed (the bootstrap's); ``roi``, ``modality``: data.roi and data.modality;
    ``test``: the independent test set, predicted ``batch_size`` images at a time; ``jobs``: processes for the
    radiomics baseline's features; ``null_model``: the network trained on shuffled labels, Grad-CAM's baseline
    (``femur_app.training.null_model``; None: left out)."""
    finished = sorted(finished, key=lambda f: f.fold)
    index, predictions = pooled_predictions(data, finished, threshold)
    done = data if len(index) == len(data.y) else data.take(index)
    labels, probs = predictions.labels, predictions.probs
    position = {case_id: i for i, case_id in enumerate(data.case_ids)}
    held_out = [np.array([position[c] for c in fold.case_ids], dtype=np.int64) for fold in finished]
    null = data.synthetic is not None and data.synthetic.null
    return RunEvaluation(
        folds_total=folds_total, finished=finished, data=done, predictions=predictions,
        summary=summarize(labels, probs, predictions.folds, predictions.patient_ids, threshold=threshold,
                          bootstrap_replicates=bootstrap, seed=seed),
        calibration=calibration(labels, probs),
        operating_point=operating_point(labels, probs, predictions.folds,
                                        {fold.fold: fold.operating_threshold for fold in finished}),
        baselines=baselines(data, index, held_out, probs, bootstrap=bootstrap, seed=seed, jobs=jobs),
        gallery=gallery.build(models, done, predictions, seed=seed, null_model=null_model),
        data_facts=facts(data, modality),
        otsu_vs_truth=roi_agreement.by_class(data.X, data.masks, data.y) if roi == "otsu" else {},
        subgroups=[] if done.signs is None else synthetic_subgroups(labels, probs, done.signs, threshold,
                                                                    predictions.patient_ids, bootstrap=bootstrap,
                                                                    seed=seed, null=null),
        worst_false_negatives=failures(done, predictions),
        counterfactuals=[] if data.synthetic is None else counterfactual.sign_tests(models, done, predictions, index),
        test=None if test is None else evaluate_independent(test, models, data, threshold=threshold,
                                                            bootstrap=bootstrap, seed=seed, modality=modality,
                                                            batch_size=batch_size),
        btxrd=btxrd.judge(done, predictions, bootstrap=bootstrap, seed=seed))
