"""``report.md``: the run's results beside the paper's Tables 2 and 3, and a consistency check of those tables.

The check rests on one identity. For a single confusion matrix with a fraction w of positive cases::

    accuracy = w * sensitivity + (1 - w) * specificity

so accuracy lies between sensitivity and specificity whatever the prevalence, and with the paper's own
prevalence (165 malignant of 500) it is fixed by the other two. Two more consequences of the definitions:

    precision = w sens / (w sens + (1 - w)(1 - spec))
    F1 = 2 P sens / (P + sens)   =>   P = F1 sens / (2 sens - F1)
    w needed for a given precision P:  w / (1 - w) = P (1 - spec) / (sens (1 - P))

and any ROC curve (non-decreasing from (0, 0) to (1, 1)) through the operating point (FPR, TPR) encloses at
least the rectangle below and right of it, so AUC >= TPR * (1 - FPR). ``consistency`` computes every number the
report states from the table values; nothing in the report's text is typed in by hand.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from femur_app.reporting import data_checks
from femur_app.reporting import sections as claim  # the sections, several after CLAIM 2024 / TRIPOD+AI
from femur_app.reporting.checklists import checklist_section
from femur_app.reporting.setup import duration

PAPER_PREVALENCE = (165, 500)  # malignant cases, all cases (paper, section 3.1)
PAPER_TABLES = {  # percentages as printed in Tables 2 and 3, AUC as a fraction
    "AlexNet-BN": {"accuracy": 98.34, "sensitivity": 97.26, "specificity": 95.74, "f1": 96.37, "auc": 0.848},
    "GoogLeNet": {"accuracy": 96.58, "sensitivity": 96.27, "specificity": 92.58, "f1": 93.69, "auc": 0.688},
}


@dataclass(frozen=True)
class Consistency:
    """What the definitions imply for one reported row (all rates as fractions)."""

    model: str
    accuracy_within_sens_spec: bool  # accuracy between sensitivity and specificity, as any prevalence requires
    prevalence_for_accuracy: float  # the w that would give the reported accuracy: (acc - spec) / (sens - spec)
    accuracy_at_paper_prevalence: float  # malignant positive, w = 165/500
    accuracy_benign_positive: float  # the same with the roles of the classes swapped, w = 335/500
    precision_from_f1: float  # P with 2 P sens / (P + sens) = F1
    prevalence_for_precision: float  # the w that gives that precision
    f1_at_paper_prevalence: float  # F1 that sens, spec and w = 165/500 imply
    min_auc: float  # TPR * (1 - FPR): no ROC curve through the operating point has less
    auc_possible: bool


def consistency(model: str, reported: dict, prevalence: tuple[int, int] = PAPER_PREVALENCE) -> Consistency:
    acc, sens, spec, f1 = (reported[k] / 100 for k in ("accuracy", "sensitivity", "specificity", "f1"))
    w = prevalence[0] / prevalence[1]
    precision = f1 * sens / (2 * sens - f1)
    odds = precision * (1 - spec) / (sens * (1 - precision))
    precision_at_w = w * sens / (w * sens + (1 - w) * (1 - spec))
    min_auc = sens * spec  # TPR * (1 - FPR) with FPR = 1 - specificity
    return Consistency(
        model=model,
        accuracy_within_sens_spec=min(sens, spec) <= acc <= max(sens, spec),
        prevalence_for_accuracy=(acc - spec) / (sens - spec) if sens != spec else math.nan,
        accuracy_at_paper_prevalence=w * sens + (1 - w) * spec,
        accuracy_benign_positive=(1 - w) * sens + w * spec,
        precision_from_f1=precision,
        prevalence_for_precision=odds / (1 + odds),
        f1_at_paper_prevalence=2 * precision_at_w * sens / (precision_at_w + sens),
        min_auc=min_auc,
        auc_possible=reported["auc"] >= min_auc,
    )


def consistency_text(check: Consistency, reported: dict) -> str:
    """The finding for one row, in sentences, every number taken from ``check``."""
    pct = 100.0
    malignant, total = PAPER_PREVALENCE
    verdict = "consistent" if check.accuracy_within_sens_spec else "inconsistent"
    lines = [
        f"**{check.model}** (reported accuracy {reported['accuracy']:.2f}, sensitivity {reported['sensitivity']:.2f}, "
        f"specificity {reported['specificity']:.2f}, F1 {reported['f1']:.2f}, AUC {reported['auc']:.3f}):",
        f"- Accuracy between sensitivity and specificity: {verdict}. "
        + ("" if check.accuracy_within_sens_spec else
           f"The reported accuracy would need a positive fraction w = {check.prevalence_for_accuracy:.2f}, "
           "outside [0, 1]. ")
        + f"With {malignant} of {total} cases malignant, the reported sensitivity and specificity give accuracy "
          f"{pct * check.accuracy_at_paper_prevalence:.2f}% ({pct * check.accuracy_benign_positive:.2f}% if benign "
          f"were the positive class).",
        f"- F1 {reported['f1']:.2f} with sensitivity {reported['sensitivity']:.2f} implies precision "
        f"{pct * check.precision_from_f1:.2f}%, which together with the reported specificity needs "
        f"{pct * check.prevalence_for_precision:.1f}% positive cases (the paper has {pct * malignant / total:.0f}%); "
        f"at {pct * malignant / total:.0f}% the reported sensitivity and specificity give F1 "
        f"{pct * check.f1_at_paper_prevalence:.2f}.",
        f"- Any ROC curve through the reported operating point (false positive rate "
        f"{100 - reported['specificity']:.2f}%, true positive rate {reported['sensitivity']:.2f}%) has AUC >= "
        f"{check.min_auc:.3f}; the reported AUC {reported['auc']:.3f} is "
        + ("possible." if check.auc_possible else "therefore impossible for the same classifier."),
    ]
    return "\n".join(lines)


def write_report(ev, setup) -> str:
    """The whole report as Markdown, from the run's ``RunEvaluation`` and ``RunSetup`` (what was run)."""
    summary = ev.summary
    confusion = summary.pooled.confusion
    diverged = [fold for fold in ev.finished if fold.status != "finished"]
    sections = [
        f"# AlexNet-BN femoral tumour classification: {setup.profile} run",
        "",
        *partial_notice(ev),
        *claim.intended_use(ev),
        "## What was run",
        "",
        f"- **Data**: {ev.data.description} - {summary.cases} cases from {summary.patients} patients, "
        f"{summary.malignant} malignant ({100 * summary.malignant / summary.cases:.1f}%).",
        f"- **Model**: {setup.model}.",
        f"- **Protocol**: {setup.protocol}.",
        f"- **Seed**: {setup.config.seed} (folds, weights, batch order, augmentation, dropout and bootstrap all "
        f"derive from it). Threshold: P(malignant) >= {summary.threshold:g}.",
        f"- **Time**: {time_text(ev, setup)}.",
        f"- **Software**: {setup.software}.",
        f"- **Reproduce**: `{setup.command}`",
        "",
    ]
    sections += [*claim.data_section(ev), *claim.partitions_section(ev, setup), *data_checks.duplicate_section(ev),
                 *data_checks.btxrd_section(ev),
                 *claim.selection_section(setup, summary.malignant / summary.cases)]
    if diverged:
        sections += ["## Warning: diverged folds", ""]
        sections += [f"- Fold {fold.fold}: {fold.message}" for fold in diverged]
        sections.append("")
    sections += [
        "## Results",
        "",
        "Every case was predicted once, by the model of the fold that held it out (out-of-fold). *Pooled*: all "
        "predictions in one confusion matrix and one ROC curve; proportions with Wilson 95% intervals, F1 and AUC "
        f"with patient-level bootstrap percentile intervals ({summary.bootstrap.replicates} replicates). "
        "*Per fold*: mean ± sample sd of the fold-wise values. Rates in %, AUC as a fraction. The paper's columns "
        "are its Tables 2 and 3 as printed (it reports no precision); they are context, not targets - see the "
        "consistency check below.",
        "",
        claim.results_table(ev, PAPER_TABLES),
        "",
        *claim.ceiling_line(ev),
        *claim.paper_auc_note(ev, PAPER_TABLES["AlexNet-BN"]["auc"]),
        f"Pooled confusion matrix (malignant = positive): TP {confusion.tp}, FN {confusion.fn}, "
        f"FP {confusion.fp}, TN {confusion.tn}.",
        "",
        "![ROC](roc.png) ![Confusion matrix](confusion_matrix.png)",
        "",
        "### Per fold",
        "",
        claim.folds_table(ev),
        "",
        "![Learning curves](learning_curves.png)",
        "",
        "The held-out curves are for monitoring only: no epoch, threshold or setting was chosen by them; each fold's "
        "model is the one after its last epoch.",
        "",
        *claim.operating_point_section(ev),
        *claim.baselines_section(ev),
        *claim.test_section(ev),
        *claim.calibration_section(ev),
        *claim.subgroup_section(ev),
        *claim.failure_section(ev),
        *claim.gallery_section(ev),
        *claim.otsu_section(ev),
        *claim.counterfactual_section(ev),
        "## Consistency check of the paper's reported numbers",
        "",
        "For one confusion matrix, accuracy = w · sensitivity + (1 − w) · specificity, with w the fraction of "
        "positive cases, so accuracy always lies between sensitivity and specificity. The checks below are "
        "computed from the printed values (`femur_app.reporting.report.consistency`).",
        "",
    ]
    for model, reported in PAPER_TABLES.items():
        sections += [consistency_text(consistency(model, reported), reported), ""]
    checks = [consistency(m, r) for m, r in PAPER_TABLES.items()]
    failed = [c.model for c in checks if not (c.accuracy_within_sens_spec and c.auc_possible)]
    sections += [
        ("Finding: the rows of " + " and ".join(failed) + " cannot each come from one confusion matrix and one ROC "
         "curve, so the paper's numbers are shown as reported and are not used as targets."
         if failed else "Finding: the reported rows are internally consistent."),
        "",
        *claim.limitations(ev, setup),
        "## How to read this report",
        "",
        "- Sensitivity: the share of malignant tumours called malignant; specificity: the share of benign ones "
        "called benign; precision: the share of 'malignant' calls that were right; F1: the harmonic mean of "
        "precision and sensitivity; AUC: the probability that a random malignant case gets a higher score than a "
        "random benign one (0.5 = chance).",
        "- The 95% intervals say how much the numbers could move with another sample of patients of the same kind; "
        "folds and patients never overlap, and augmentation and normalisation statistics come from the training "
        "folds only.",
        "- Files: `predictions.csv` (one row per case), `metrics.json` (every number above), `folds.csv`, "
        "`config.toml` (the resolved configuration), `train.log`, `checkpoints/` (one model per fold).",
        "",
    ]
    sections += checklist_section(ev, setup, sections)
    return "\n".join(sections)


def time_text(ev, setup) -> str:
    return (f"training {duration(sum(fold.seconds for fold in ev.finished))} summed over folds (all sessions); this "
            f"session {duration(setup.session_seconds)} wall clock including {setup.data_seconds:.0f} s of data "
            "preparation")


def partial_notice(ev) -> list[str]:
    """While a run goes on: which folds this report holds (nothing when every fold has finished)."""
    if not ev.partial:
        return []
    done = ", ".join(str(fold.fold) for fold in ev.finished)
    return [f"**A report of {len(ev.finished)} of {ev.folds_total} folds** (folds {done}; the run is not finished): "
            "every figure below is of the held-out cases of these folds only, and will change.", ""]
