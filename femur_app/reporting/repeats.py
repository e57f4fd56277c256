"""The outputs of a repeated cross-validation's top folder (``femur_app.training.repeats``): ``report.md`` with
each repetition and the interval that includes training variance, and ``metrics.json``'s "repeats" entry
(``repeats_record``), from the ``RepeatsSummary`` of ``femur_app.evaluation.repeats``."""
from __future__ import annotations

from dataclasses import asdict

from femur_app.evaluation.metrics import to_json_safe
from femur_app.evaluation.repeats import RepeatsSummary


def repeats_record(summary: RepeatsSummary) -> dict:
    """metrics.json's "repeats" entry (a repetition's test_auc only with a test set)."""
    record = to_json_safe(summary)
    record["repetitions"] = [{k: v for k, v in to_json_safe(asdict(row)).items() if k != "test_auc" or
                              row.test_auc is not None} for row in summary.repetitions]
    return record


def repeats_report(summary: RepeatsSummary, folds: int) -> str:
    """The top folder's report.md: each repetition, the mean and sd, the interval with training variance."""
    rows = summary.repetitions
    test = rows[0].test_auc is not None
    lines = [f"# Repeated cross-validation: {len(rows)} x {folds}-fold", "",
             "Each repetition is a complete run with its own seed: a new fold split and new initial weights, batch "
             "order, augmentation and dropout (`femur_app.training.repeats`). Repetition 1 uses the configured "
             "seed; each repetition's own report is in its folder.", "",
             "| repetition | seed | pooled AUC | accuracy % | sensitivity % | specificity % |"
             + (" test AUC |" if test else ""),
             "|---|---|---|---|---|---|" + ("---|" if test else "")]
    for row in rows:
        lines.append(f"| [{row.repetition}](repeat_{row.repetition:02d}/report.md) | {row.seed} | "
                     f"{row.auc:.3f} | {100 * row.accuracy:.2f} | {100 * row.sensitivity:.2f} | "
                     f"{100 * row.specificity:.2f} |" + (f" {row.test_auc:.3f} |" if test else ""))
    ms, ci = summary.mean_sd, summary.ci95_with_training_variance
    lines += ["", f"Mean ± sd over the repetitions: AUC {ms['auc'].mean:.3f} ± {ms['auc'].sd:.3f}, accuracy "
                  f"{100 * ms['accuracy'].mean:.2f} ± {100 * ms['accuracy'].sd:.2f}%"
                  + (f", test AUC {ms['test_auc'].mean:.3f} ± {ms['test_auc'].sd:.3f}" if test else "") + ".",
              "",
              f"95% interval including training variance ({summary.ci_method}, {ci.replicates} replicates): "
              f"AUC [{ci.auc[0]:.3f}, {ci.auc[1]:.3f}], accuracy [{100 * ci.accuracy[0]:.2f}, "
              f"{100 * ci.accuracy[1]:.2f}]%. It is the interval of one model trained by this procedure; a single "
              "run's patient-bootstrap interval treats its fold models as fixed and leaves this spread out.", "",
              f"AUC of each case's P(malignant) averaged over the repetitions (an ensemble of the repetitions' models): "
              f"{summary.averaged_auc:.3f}.", ""]
    return "\n".join(lines)
