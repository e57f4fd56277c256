"""The report's sections on what the data allow a reader to judge: the training and test images that are near
duplicates (``femur_app.evaluation.duplicates``), and on a BTXRD import its centres, subtypes and both patient
groupings (``femur_app.evaluation.btxrd``). Formatting only; the numbers are computed there."""
from __future__ import annotations

from femur_app.data.image_hash import MAX_DISTANCE
from femur_app.evaluation.duplicates import RULE


def _estimate(e) -> str:
    if e.value != e.value:  # NaN: one class only
        return "undefined (one class only)"
    return f"{e.value:.3f} [{e.ci95[0]:.3f}, {e.ci95[1]:.3f}]"


def duplicate_section(ev) -> list[str]:
    """The near-duplicate check between the training and the test set (nothing without a test set)."""
    if ev.test is None:
        return []
    pairs = ev.test.near_duplicates
    rule = RULE.format(max_distance=MAX_DISTANCE)
    if not pairs:
        return ["### Near-duplicate images between the training and the test set", "",
                f"None: no training image and test image have {rule}. (A second view of one lesion is a different "
                "image and cannot be found this way.)", ""]
    lines = ["### Near-duplicate images between the training and the test set", "",
             f"**Warning: {len(pairs)} training/test image pair(s) have {rule}.** If they are the same images, the "
             "test set is not independent of the training set: look at them, and remove one side before "
             "reporting the test figures.", "", "| training case | test case | distance (bits) |", "|---|---|---|"]
    lines += [f"| {p.train_case} | {p.test_case} | {p.distance} |" for p in pairs]
    return lines + [""]


def btxrd_section(ev) -> list[str]:
    """Centres with their prevalence and the centre-only baseline, subtypes, both groupings (BTXRD only)."""
    checks = ev.btxrd
    if checks is None:
        return []
    lines = ["## BTXRD: centres, subtypes and patient grouping", "",
             "Per centre (the centres differ in case mix, so a model can score by recognising a centre):", "",
             "| centre | cases | malignant | prevalence % |", "|---|---|---|---|"]
    lines += [f"| {c.centre} | {c.cases} | {c.malignant} | {100 * c.prevalence:.1f} |" for c in checks.centres]
    lines += ["", f"Centre-only baseline (each held-out case scored by its centre's malignant share in the fold's "
                  f"training cases): AUC {_estimate(checks.centre_only_auc)}, against the CNN's "
                  f"{_estimate(ev.summary.pooled.auc)}.", "",
              "Per subtype, at the run's threshold: sensitivity for a malignant subtype, specificity for a benign "
              "one (Wilson 95% intervals). Giant-cell tumour is WHO *intermediate (locally aggressive)*; the "
              "import's summary says whether it was kept as benign, excluded or relabelled.", "",
              "| subtype | class | cases | correct | rate % [95% CI] |", "|---|---|---|---|---|"]
    lines += [f"| {s.subtype} | {'malignant' if s.label else 'benign'} | {s.cases} | {s.correct} | "
              f"{100 * s.rate:.1f} [{100 * s.ci95[0]:.1f}, {100 * s.ci95[1]:.1f}] |" for s in checks.subtypes]
    lines += ["", "Patient grouping: BTXRD has no patient identifier. The folds were grouped by the grouping marked "
                  "*used*; for each grouping, the AUC over the cases whose group lies wholly inside their own fold "
                  "(the cases it says were not leaked to). A clear drop under the coarse groups points to leakage "
                  "between views of one patient; the subset is not random, so the full check is a second run on "
                  "an import made with `--grouping coarse`.", "",
              "| grouping | used | groups | images per group (images: groups) | cases inside their fold | AUC "
              "[95% CI] |", "|---|---|---|---|---|---|"]
    for g in checks.groupings:
        sizes = ", ".join(f"{n}: {k}" for n, k in g.images_per_group.items())
        lines.append(f"| {g.name} | {'used' if g.used_by_run else ''} | {g.groups} | {sizes} | {g.clean_cases} | "
                     f"{_estimate(g.clean_auc)} |")
    return lines + [""]
