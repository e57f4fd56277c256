"""The comparison of several models run on the same folds: one table, DeLong's tests, one ROC figure.

Written into the comparison folder::

    comparison.md    one table of pooled metrics with 95% CIs (with repeated cross-validation also each model's
                     AUC per repetition), and DeLong's paired test of every pair of models, Holm-corrected,
                     stating plainly whether each difference is significant; with repetitions, DeLong's test of
                     every repetition, combined by Rubin's rules so that the spread between trainings counts
                     (``femur_app.evaluation.repeated_delong``)
    comparison.csv   the same table as numbers
    roc_all.png      the pooled out-of-fold ROC curve of every model

All models must have predicted the same cases in the same folds (``check_same_folds``; with repetitions, in
every repetition), so the AUC differences are paired and DeLong's test applies.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from femur_app.evaluation.delong import delong_test, holm_adjust
from femur_app.evaluation.metrics import METRICS, Estimate, Summary, auc, roc
from femur_app.evaluation.predictions import Predictions, csv_text
from femur_app.evaluation.repeated_delong import repeated_delong
from femur_app.evaluation.repeats import RepeatsSummary
from femur_app.reporting.plots import plt, save_figure
from minicnn.serialize import write_text_atomic

LABELS = {"alexnet_bn": "AlexNet-BN", "alexnet": "AlexNet (no BN)", "googlenet": "GoogLeNet",
          "radiomics": "Radiomics + logistic regression"}


def label(name: str) -> str:
    """A model's display name; ``NAME:ROI`` (a preprocessing variant) adds the ROI."""
    name, _, roi = name.partition(":")
    return LABELS.get(name, name) + (f" ({roi} ROI)" if roi else "")


def check_same_folds(runs: dict[str, Predictions]) -> None:
    """Every model must have predicted the same cases in the same folds, or the comparison is not paired."""
    (first, ref), *others = runs.items()
    for name, run in others:
        for column in ("case_ids", "folds", "labels"):
            if not np.array_equal(getattr(run, column), getattr(ref, column)):
                raise ValueError(f"compare: {name} and {first} differ in their {column} column; "
                                 "the models were not evaluated on the same folds")


def ci_text(entry: Estimate, percent: bool) -> str:
    scale = 100 if percent else 1
    value, (low, high) = entry.value, entry.ci95
    if value is None:
        return "undefined"
    fmt = "{:.1f}" if percent else "{:.3f}"
    return f"{fmt.format(value * scale)} [{fmt.format(low * scale)}, {fmt.format(high * scale)}]"


def comparison_table(summaries: dict[str, Summary]) -> str:
    lines = ["| model | accuracy % | precision % | sensitivity % | specificity % | F1 | AUC |",
             "|---|---|---|---|---|---|---|"]
    for name, summary in summaries.items():
        p = summary.pooled.estimates()
        lines.append(f"| {label(name)} | " + " | ".join(
            ci_text(p[k], percent=k not in ("f1", "auc")) for k in METRICS) + " |")
    return "\n".join(lines)


def delong_section(runs: dict[str, Predictions]) -> tuple[str, list[dict]]:
    """DeLong's paired test of every pair of models, Holm-corrected over all pairs."""
    names = list(runs)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    results = [delong_test(runs[a].labels, runs[a].probs, runs[b].probs) for a, b in pairs]
    adjusted = holm_adjust([r.p_value for r in results])
    lines = ["DeLong's paired test of every pair of models' pooled AUCs (two-sided); the p-values are "
             f"Holm-adjusted over the {len(pairs)} test(s), so 'significant' (adjusted p < 0.05) keeps the "
             "family-wise error at 5%:", "",
             "| model A | model B | AUC A | AUC B | A - B [95% CI] | p | Holm-adjusted p | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    rows = []
    for (a, b), r, p_holm in zip(pairs, results, adjusted):
        verdict = (f"{label(a)} is significantly {'better' if r.difference > 0 else 'worse'}"
                   if p_holm < 0.05 else "not significant: the data do not show a difference")
        lines.append(f"| {label(a)} | {label(b)} | {r.auc_a:.3f} | {r.auc_b:.3f} | {r.difference:+.3f} "
                     f"[{r.ci95[0]:+.3f}, {r.ci95[1]:+.3f}] | {r.p_value:.3g} | {p_holm:.3g} | {verdict} |")
        rows.append({"model": b, "reference": a, "auc": r.auc_b, "difference": r.difference,
                     "p_value": r.p_value, "p_holm": p_holm})
    return "\n".join(lines), rows


def repeated_delong_section(repetitions: dict[str, list[Predictions]]) -> tuple[str, list[dict]]:
    """DeLong's paired test of every pair of models in every repetition, combined over the repetitions by Rubin's
    rules (training variance kept), Holm-corrected over all pairs."""
    names = list(repetitions)
    count = len(repetitions[names[0]])
    for r in range(count):
        check_same_folds({name: runs[r] for name, runs in repetitions.items()})
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    labels = np.stack([run.labels for run in repetitions[names[0]]])
    scores = {name: np.stack([run.probs for run in runs]) for name, runs in repetitions.items()}
    results = [repeated_delong(labels, scores[a], scores[b]) for a, b in pairs]
    adjusted = holm_adjust([r.p_value for r in results])
    lines = [f"DeLong's paired test of every pair of models in each of the {count} repetitions (both models trained "
             "on the same split), combined by Rubin's rules: the mean difference, with a variance that adds the "
             "spread of the difference between repetitions (training variance) to DeLong's mean variance "
             "(patient sampling), and a t test on Rubin's degrees of freedom "
             "(`femur_app.evaluation.repeated_delong`). Two-sided; the p-values are Holm-adjusted over the "
             f"{len(pairs)} test(s), so 'significant' (adjusted p < 0.05) keeps the family-wise error at 5%:", "",
             "| model A | model B | A - B per repetition (DeLong p) | mean AUC A | mean AUC B | A - B [95% CI] "
             "| df | p | Holm-adjusted p | verdict |", "|---|---|---|---|---|---|---|---|---|---|"]
    rows = []
    for (a, b), r, p_holm in zip(pairs, results, adjusted):
        verdict = (f"{label(a)} is significantly {'better' if r.difference > 0 else 'worse'}"
                   if p_holm < 0.05 else "not significant: the data do not show a difference")
        each = ", ".join(f"{x.difference:+.3f} ({x.p_value:.2g})" for x in r.per_repetition)
        df = "inf" if np.isinf(r.df) else f"{r.df:.1f}"
        lines.append(f"| {label(a)} | {label(b)} | {each} | {r.auc_a:.3f} | {r.auc_b:.3f} | {r.difference:+.3f} "
                     f"[{r.ci95[0]:+.3f}, {r.ci95[1]:+.3f}] | {df} | {r.p_value:.3g} | {p_holm:.3g} | {verdict} |")
        rows.append({"model": b, "reference": a, "auc": r.auc_b, "difference": r.difference,
                     "p_value": r.p_value, "p_holm": p_holm})
    return "\n".join(lines), rows


def repeats_table(repeats: dict[str, RepeatsSummary], names: list[str]) -> str:
    """Each model's per-repetition AUCs, their mean ± sd and the interval with training variance ("" unless every
    model of ``names`` was repeated)."""
    if not all(name in repeats for name in names):
        return ""
    lines = ["Repeated cross-validation (the same seeds, hence the same splits, for every model; "
             "`femur_app.training.repeats`):", "",
             "| model | AUC per repetition | mean ± sd | 95% CI with training variance | AUC of the averaged "
             "probabilities |", "|---|---|---|---|---|"]
    for name in names:
        r = repeats[name]
        aucs = ", ".join(f"{row.auc:.3f}" for row in r.repetitions)
        lo, hi = r.ci95_with_training_variance.auc
        lines.append(f"| {label(name)} | {aucs} | {r.mean_sd['auc'].mean:.3f} ± {r.mean_sd['auc'].sd:.3f}"
                     f" | [{lo:.3f}, {hi:.3f}] | {r.averaged_auc:.3f} |")
    return "\n".join(lines) + ("\n\nThe averaged probabilities' AUC describes an ensemble of the repetitions' "
                               "models; the tests below compare the repetitions one by one instead.")


def plot_all_rocs(runs: dict[str, Predictions], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.4, 5))
    for name, run in runs.items():
        fpr, tpr, _ = roc(run.labels, run.probs)
        ax.plot(fpr, tpr, lw=2, label=f"{label(name)} (AUC {auc(run.labels, run.probs):.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="0.5", lw=1)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title="Pooled out-of-fold ROC, same folds")
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def write_comparison(out: Path, runs: dict[str, Predictions], summaries: dict[str, Summary],
                     repeats: dict[str, RepeatsSummary], note: str = "",
                     repetitions: dict[str, list[Predictions]] | None = None) -> str:
    """comparison.md, comparison.csv and roc_all.png in ``out`` from each model's out-of-fold predictions, their
    summary and (repeated runs) the repetitions' summary and each repetition's predictions, which the tests then
    compare repetition by repetition; returns the table and the tests as text.
    ``note``: a sentence added to the header (e.g. that the networks are reduced variants)."""
    check_same_folds(runs)
    table = comparison_table(summaries)
    repeated = repetitions and all(repetitions.get(name) for name in runs)
    tests, rows = repeated_delong_section({m: repetitions[m] for m in runs}) if repeated else delong_section(runs)
    plot_all_rocs(runs, out / "roc_all.png")
    reference = next(iter(runs))
    write_text_atomic(out / "comparison.csv", csv_text(
        ["model", *METRICS, "delong_p_vs_reference", "holm_p_vs_reference"],
        [[m, *(getattr(summaries[m].pooled, k).value for k in METRICS),
          *next(([r["p_value"], r["p_holm"]] for r in rows if r["model"] == m and r["reference"] == reference),
                ["", ""])] for m in runs]))
    per_repetition = repeats_table(repeats, list(runs))
    table = f"{table}\n\n{per_repetition}" if per_repetition else table
    text = (f"# Model comparison\n\nSame cases, same folds (checked), pooled out-of-fold predictions; "
            f"95% CIs: Wilson for proportions, patient bootstrap for F1 and AUC.{note}\n\n{table}\n\n{tests}\n\n"
            f"![ROC curves](roc_all.png)\n\nEach model's own run folder (report, learning curves) is beside this file.\n")
    write_text_atomic(out / "comparison.md", text)
    return f"{table}\n\n{tests}"
