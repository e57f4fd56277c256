"""The report's sections, several after CLAIM 2024 (Checklist for Artificial Intelligence in Medical Imaging) and
TRIPOD+AI: intended use, data and reference standard, partitions, selection procedure, threshold, the results
tables, the independent test set, calibration, subgroups, failures, the Grad-CAM gallery, the Otsu mask,
counterfactuals and limitations. Each function takes the run's ``RunEvaluation`` (``femur_app.evaluation.run``)
and what was run (``RunSetup``, ``femur_app.reporting.outputs``) and returns Markdown lines; every number comes
from them.
"""
from __future__ import annotations

import math

from femur_app.data.synthetic import SPACING_MM
from femur_app.evaluation.calibration import MIN_LOGIT_SD

ROWS = (("accuracy", "Accuracy"), ("precision", "Precision"), ("sensitivity", "Sensitivity"),
        ("specificity", "Specificity"), ("f1", "F1"), ("auc", "AUC"))


def fmt_pct(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


def fmt_metric(name: str, value) -> str:
    """AUC as a fraction with three decimals, every rate as a percentage with two."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.3f}" if name == "auc" else f"{100 * value:.2f}"


def _ci(entry, key: str) -> str:
    """An ``Estimate`` (or any value with a ``ci95``) as "value [low, high]"."""
    lo, hi = entry.ci95
    return f"{fmt_metric(key, entry.value)} [{fmt_metric(key, lo)}, {fmt_metric(key, hi)}]"


def _auc_ci(value: float, ci95) -> str:
    if math.isnan(value):
        return "n/a (one class)"
    return f"{value:.3f} [{fmt_metric('auc', ci95[0])}, {fmt_metric('auc', ci95[1])}]"


def intended_use(ev) -> list[str]:
    modality = ev.data_facts.modality
    return ["## Intended use and target population", "",
            "A research reproduction, not a clinical tool: it estimates how well the paper's method (AlexNet-BN on "
            f"a lesion ROI) separates malignant from benign bone tumours on a single image ({modality}), given a "
            "box around the lesion. Target population of the paper: patients with a "
            "histologically confirmed benign or malignant femoral bone tumour (no normal bone, no metastases, no "
            "other diagnoses). No result here supports a decision about a patient.", ""]


def data_section(ev) -> list[str]:
    f = ev.data_facts
    lines = ["## Data and reference standard", "",
             f"- **Source**: {ev.data.description}; {f.dataset}.",
             f"- **Modality**: {f.modality}.",
             "- **Design**: " + (
                 "a simulation: every case is drawn by the generator, none collected; acquisition simulated (pixel "
                 f"spacing {SPACING_MM[0]}-{SPACING_MM[1]} mm, coil sensitivity, blur, Rician noise: docs/data.md)."
                 if f.ceiling_auc is not None else
                 "retrospective: the images of an existing collection, read as they are."),
             f"- **Patients**: {f.patients}.",
             "- **Sample size**: " + (
                 "set by the configuration (data.n, data.n_malignant; the paper's 500 cases, 165 malignant, by "
                 "default), not by a power calculation."
                 if f.ceiling_auc is not None else
                 "every usable case of the folder; no power calculation. With few malignant cases the intervals "
                 "below are wide - read them, not the point values."),
             "- **Reference standard**: " + (
                 "the generator's label: each phantom is drawn from the benign or the malignant laws "
                 "(`femur_app.data.synthetic`), so the label is exact by construction."
                 if f.ceiling_auc is not None else
                 "the labels as the data set gives them (labels.csv); this run cannot check how they were "
                 "established."),
             "- **Localisation is an oracle**: the ROI is cut around the lesion box, and " + (
                 "on the synthetic set that box is the true lesion mask's bounding box."
                 if f.ceiling_auc is not None else "that box is the data's annotated box (drawn by a reader).")
             + " A deployed system would need a detector or a reader to draw it; the results hold only given "
               "such a box."]
    if f.ceiling_auc is not None:
        lines += [f"- **The data's ceiling**: the best AUC any reader can reach on this very set is "
                  f"**{f.ceiling_auc:.3f}** (the generator's Bayes-optimal score from its hidden aggressiveness "
                  "and diameter, `femur_app.data.synthetic.ceiling_auc`). A result above it would mean leakage."
                  + (" This is a **null set** (same labels and counts, no class signal): the expected AUC is 0.5."
                     if f.null else "")]
        if f.sign_rates:
            lines += ["", "Class-conditional sign rates of this set, as the generator drew them "
                          "(`femur_app.data.synthetic.sign_rates`):", "",
                      "| sign | benign | malignant |", "|---|---|---|"]
            for name, (benign, malignant) in f.sign_rates.items():
                fmt = (lambda v: f"{v:.2f}") if name.startswith("mean") else (lambda v: f"{100 * v:.0f}%")
                lines.append(f"| {name} | {fmt(benign)} | {fmt(malignant)} |")
    return lines + [""]


def partitions_section(ev, setup) -> list[str]:
    lines = ["## Partitions and patient-level disjointness", "",
             f"- {setup.config.cv.folds}-fold cross-validation on {ev.summary.cases} cases of {ev.summary.patients} "
             "patients, stratified by label and grouped by patient (`femur_app.training.folds`): every case of a "
             "patient sits in one fold, which is asserted before training. Normalisation statistics and "
             "augmentation come from each training fold only."]
    test = ev.test
    if test is None:
        lines.append("- No independent test set was given (`--test-data`): every figure below is "
                     "cross-validated on one data set.")
    else:
        shared = test.shared_patients
        lines.append(f"- Independent test set: {test.data.description}; {test.summary.cases} cases of "
                     f"{test.summary.patients} "
                     "patients, never used for training, selection or the threshold; "
                     f"{'an external' if test.external else 'an internal'} test ({test.scope}). " +
                     (f"**Warning: {len(shared)} patient id(s) appear in both sets** ({', '.join(shared[:10])}); "
                      "if they are the same patients the test is not independent."
                      if shared else "No patient id appears in both sets."))
    return lines + [""]


QUICK_SELECTION_SEED = 1  # the synthetic set docs/select_quick_profile.py chose the quick profile on


def selected_on_reported_set(setup) -> bool:
    """True when a quick run reports the very synthetic set its profile was chosen on (synthetic_seed 1)."""
    data = setup.config.data
    return (setup.profile == "quick" and data.source == "synthetic"
            and data.synthetic_seed == QUICK_SELECTION_SEED)


def selection_section(setup, prevalence: float) -> list[str]:
    """``prevalence``: the malignant share of the cases the network was trained on (the threshold's meaning)."""
    config, profile = setup.config, setup.profile
    if profile not in ("quick", "paper"):
        text = (f"A configuration of its own (profile {profile!r}, see config.toml); how its settings were chosen "
                "is not recorded by the run - state it when reporting the result.")
    elif profile == "quick":
        data = config.data
        text = ("The quick profile (`femur_app/configs/quick.toml`) fixes width and epochs by the time budget "
                "alone; its learning rate, initialisation, schedule and input size were chosen among six candidates "
                "by the pooled cross-validated AUC on synthetic_seed "
                f"{QUICK_SELECTION_SEED}, a criterion fixed before the runs (`docs/select_quick_profile.py`, "
                "`docs/figures/quick_selection.json`), and then frozen.")
        if selected_on_reported_set(setup):
            text += (f" **This run reports synthetic_seed {QUICK_SELECTION_SEED}, the very set the choice was made "
                     "on: its cross-validated figures are optimistically biased by that selection.**")
        elif data.source == "synthetic":
            text += (f" This run's set (synthetic_seed {data.synthetic_seed}) played no part in the choice.")
        else:
            text += " The choice was made on synthetic data, not on the images of this run."
    else:
        text = ("The settings are the paper's where it states them; where it is silent they were fixed in advance "
                "by reasoning (docs/training.md), not by any result on these data.")
    return ["## Model, training and selection procedure", "",
            f"- **Model**: {setup.model}.", f"- **Training**: {setup.protocol}.",
            f"- **Selection**: {text} No early stopping: each fold's model is the one after its last epoch; the "
            "held-out curves are for monitoring only.",
            threshold_line(config.cv.threshold, prevalence), ""]


def threshold_line(threshold: float, prevalence: float) -> str:
    """What the fixed threshold means for a network trained with an unweighted loss at the data's prevalence."""
    if threshold != 0.5:
        meaning = "chosen by the configuration (cv.threshold)"
    elif abs(prevalence - 0.5) < 0.01:
        meaning = ("the cut that counts both errors alike; with classes this balanced it also weighs sensitivity and "
                   "specificity alike")
    else:
        meaning = (f"the cut that minimises errors counted one for one: the loss is unweighted and "
                   f"{100 * prevalence:.0f}% of the training cases are malignant, so it weighs each benign case as "
                   "much as each malignant one and, at this prevalence, favours "
                   f"{'specificity over sensitivity' if prevalence < 0.5 else 'sensitivity over specificity'} - it "
                   "is not a cut of balanced costs for a missed cancer")
    return (f"- **Threshold**: P(malignant) >= {threshold:g}, fixed in advance ({meaning}; the paper states none), "
            "never tuned on held-out or test predictions. The AUC does not depend on it.")


def ceiling_line(ev) -> list[str]:
    ceiling = ev.data_facts.ceiling_auc
    if ceiling is None:
        return []
    auc, (low, _) = ev.summary.pooled.auc.value, ev.summary.pooled.auc.ci95
    if auc <= ceiling:
        verdict = "below it"
    elif low > ceiling:
        verdict = "above it, beyond its own 95% interval: look for leakage"
    else:
        verdict = "above it, but the ceiling lies inside its 95% interval (sampling, not evidence of leakage)"
    return [f"The data's ceiling AUC (Bayes-optimal reader of this set): **{ceiling:.3f}**; this run's pooled AUC "
            f"{fmt_metric('auc', auc)} is {verdict}.", ""]


def test_section(ev) -> list[str]:
    test = ev.test
    if test is None:
        return []
    pooled, cv = test.summary.pooled.estimates(), ev.summary.pooled.estimates()
    rows = ["| Metric | Cross-validation, pooled [95% CI] | Test set [95% CI] |", "|---|---|---|"]
    for key, label in ROWS:
        rows.append(f"| {label} | {_ci(cv[key], key)} | {_ci(pooled[key], key)} |")
    per_model = [a for a in test.per_model_auc if not (isinstance(a, float) and math.isnan(a))]
    ceiling = test.facts.ceiling_auc
    c = test.summary.pooled.confusion
    calibration = test.calibration
    return ["## Test set", "",
            f"{test.data.description}. Modality: {test.facts.modality}. Patients: {test.facts.patients}.",
            "",
            f"Predicted by the {test_predictor(test)} (an ensemble of the cross-validation's models, no model "
            "retrained on all data); each fold model standardises the test images with its own training fold's "
            "statistics. "
            f"Threshold {ev.summary.threshold:g} as in cross-validation. Proportions with Wilson intervals, F1 and "
            "AUC with patient-bootstrap intervals. Per-case probabilities: `test_predictions.csv` (fold 0 = the "
            "mean of all fold models).", "", *rows, "",
            f"Confusion matrix: TP {c.tp}, FN {c.fn}, FP {c.fp}, TN {c.tn}. Single fold models on the "
            f"test set: AUC {min(per_model):.3f} to {max(per_model):.3f}." if per_model else "",
            "" if ceiling is None else f"The test set's ceiling AUC: {ceiling:.3f}.",
            f"Calibration on the test set: ECE {calibration.reliability.ece:.3f}, slope "
            f"{calibration.slope:.2f}, intercept {calibration.intercept:.2f}.", "",
            "![ROC, cross-validation and test set](roc_test.png)", ""]


def results_table(ev, paper_tables: dict) -> str:
    """Pooled value [95% CI], per-fold mean +- sd, and the paper's two rows, one metric per line."""
    header = ("| Metric | This run, pooled [95% CI] | This run, per fold mean ± sd | Paper AlexNet-BN | "
              "Paper GoogLeNet |\n|---|---|---|---|---|")
    lines = [header]
    pooled = ev.summary.pooled.estimates()
    for key, label in ROWS:
        spread = ev.summary.fold_mean_sd[key]
        lo, hi = pooled[key].ci95
        paper = [paper_tables[m].get(key) for m in ("AlexNet-BN", "GoogLeNet")]
        paper_text = ["—" if v is None else (f"{v:.3f}" if key == "auc" else f"{v:.2f}") for v in paper]
        lines.append(f"| {label} | {fmt_metric(key, pooled[key].value)} "
                     f"[{fmt_metric(key, lo)}, {fmt_metric(key, hi)}] | "
                     f"{fmt_metric(key, spread.mean)} ± {fmt_metric(key, spread.sd)} | "
                     f"{paper_text[0]} | {paper_text[1]} |")
    return "\n".join(lines)


def folds_table(ev) -> str:
    by_fold = {f.fold: f for f in ev.summary.per_fold}
    lines = ["| Fold | Test cases (malignant) | Epochs | Status | Accuracy | Sensitivity | Specificity | F1 | AUC |",
             "|---|---|---|---|---|---|---|---|---|"]
    for fold in ev.finished:
        m = by_fold[fold.fold]
        lines.append(f"| {fold.fold} | {m.cases} ({m.malignant}) | {fold.epochs_run} | {fold.status} | "
                     f"{fmt_pct(m.accuracy)} | {fmt_pct(m.sensitivity)} | {fmt_pct(m.specificity)} | "
                     f"{fmt_pct(m.f1)} | {fmt_metric('auc', m.auc)} |")
    return "\n".join(lines)


def calibration_section(ev) -> list[str]:
    """Lines on how far the probabilities can be taken at their word."""
    calibration = ev.calibration
    slope_text = (f" {slope_text_of(calibration)} and intercept **{calibration.intercept:.2f}** (ideal 0; the mean "
                  "log-odds by which the predictions are too low), from the logistic recalibration model "
                  "(`femur_app.evaluation.calibration`).")
    return ["### Calibration", "",
            f"Expected calibration error over {len(calibration.reliability.counts)} equal-width bins: "
            f"**{calibration.reliability.ece:.3f}** "
            "(the case-weighted mean gap between predicted P(malignant) and the observed malignant fraction; "
            f"0 = perfectly calibrated).{slope_text} The probabilities are not recalibrated; read them with the "
            "diagram.", "",
            "![Reliability diagram](reliability.png)", ""]


def operating_point_section(ev) -> list[str]:
    """The run's fixed threshold beside the operating point each fold fixed on its own training cases."""
    point = ev.operating_point
    lines = ["### An operating point fixed in advance", ""]
    if point is None:
        return lines + ["Not available: some folds were trained before each fold recorded a threshold chosen on its "
                        "own training cases; train them again to report it.", ""]
    pooled = ev.summary.pooled
    thresholds = list(point.thresholds.values())
    target = 100 * point.target_sensitivity
    lines += [f"Each fold, once trained, predicted its own training cases and kept the largest threshold that called "
              f"at least {target:.0f}% of their malignant cases malignant (target: sensitivity >= {target:.0f}%, "
              "because a missed malignant tumour costs more than a false alarm); its held-out cases were called at "
              "that threshold. It was chosen on the training fold, never on the predictions reported here; the price "
              "is that a network scores the cases it was fitted on more confidently than new ones, so the held-out "
              "sensitivity tends to fall short of the target (`femur_app.evaluation.operating_point`). Fold "
              f"thresholds: {min(thresholds):.3f} to {max(thresholds):.3f}.", "",
              "| threshold | sensitivity % [95% CI] | specificity % [95% CI] |", "|---|---|---|",
              f"| {ev.summary.threshold:g} (fixed, the run's) | {_ci(pooled.sensitivity, 'sensitivity')} | "
              f"{_ci(pooled.specificity, 'specificity')} |",
              f"| each fold's, for sensitivity >= {target:.0f}% on its training cases | "
              f"{_ci(point.sensitivity, 'sensitivity')} | {_ci(point.specificity, 'specificity')} |", ""]
    c = point.confusion
    return lines + [f"At the fold thresholds: TP {c.tp}, FN {c.fn}, FP {c.fp}, TN {c.tn}.", ""]


def slope_text_of(calibration) -> str:
    """The calibration slope with its Wald interval, or "undefined" and why."""
    if not calibration.slope_defined:
        return ("Calibration slope **undefined**: the predicted log-odds barely vary (sd "
                f"{calibration.logit_sd:.3f}, below {MIN_LOGIT_SD:g}), so no line through them says whether the "
                "predictions are too extreme or too timid (the fitted value, "
                f"{calibration.slope:.2f}, is not interpretable),")
    low, high = calibration.slope_ci95
    return (f"Calibration slope **{calibration.slope:.2f}** [{low:.2f}, {high:.2f}] (Wald 95% interval; ideal 1; "
            "below 1: predictions too extreme)")


def baselines_section(ev) -> list[str]:
    """The CNN's AUC beside the baselines on the same cases and folds (``femur_app.evaluation.baselines``)."""
    b = ev.baselines
    if b is None:
        return []
    words = {"radiomics": "Radiomics logistic regression: first-order, shape, GLCM and LBP features of the same "
                          "ROIs, fitted per fold on the CNN's training fold",
             "sign reader": "Exact-sign reader: a logistic regression on every sign the generator drew (no "
                            "image), fitted per fold on the CNN's training fold",
             "ceiling": "The generator's ceiling: its Bayes-optimal score from the hidden aggressiveness and "
                        "diameter (fitted on nothing)"}
    auc = ev.summary.pooled.auc.value
    lines = ["### Baselines on the same cases and folds", "",
             "AUCs with patient-bootstrap 95% intervals on the same resampled patients as the CNN's; the "
             "difference is the CNN's AUC minus the reference's, with DeLong's paired 95% interval and two-sided "
             "p-value (`femur_app.evaluation.baselines`).", "",
             "| reference | AUC [95% CI] | CNN minus reference [95% CI] | p (DeLong) |", "|---|---|---|---|",
             f"| This run's CNN | {auc:.3f} [{b.cnn_ci95[0]:.3f}, {b.cnn_ci95[1]:.3f}] | - | - |"]
    for row in b.rows:
        d = row.versus_cnn
        lines.append(f"| {words[row.name]} | {row.auc:.3f} [{row.ci95[0]:.3f}, {row.ci95[1]:.3f}] | "
                     f"{d.difference:+.3f} [{d.ci95[0]:+.3f}, {d.ci95[1]:+.3f}] | {fmt_p(d.p_value)} |")
    names = {row.name: row for row in b.rows}
    radiomics = names["radiomics"]
    lines += ["", f"The CNN's AUC is {'above' if auc > radiomics.auc else 'at or below'} the radiomics baseline's "
                  f"on these cases ({auc:.3f} against {radiomics.auc:.3f}); the difference is "
                  f"{'' if radiomics.versus_cnn.p_value < 0.05 else 'not '}significant at the 5% level (DeLong)."]
    if "sign reader" in names:
        lines.append(f"Between the exact-sign reader ({names['sign reader'].auc:.3f}) and the ceiling "
                     f"({names['ceiling'].auc:.3f}) lies what no reader of the drawn signs can learn from "
                     f"{ev.summary.cases} cases; the gap from the CNN to the sign reader is what the network has not "
                     "learnt to see.")
    return lines + [""]


def fmt_p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def paper_auc_note(ev, paper_auc: float) -> list[str]:
    """Why a pooled AUC near the paper's is no evidence of a reproduction."""
    auc, (low, high) = ev.summary.pooled.auc.value, ev.summary.pooled.auc.ci95
    near = low <= paper_auc <= high
    return [f"The paper's AUC {paper_auc:.3f} {'lies inside' if near else 'lies outside'} this run's 95% interval. "
            "Any match is a coincidence, not a reproduction: the cases are not the paper's (" +
            ("synthetic phantoms" if ev.data_facts.ceiling_auc is not None else "another data set") +
            "), the paper's AUC cannot belong to its own reported operating point (see the consistency check), "
            "and the same method on other data gives another AUC.", ""]


def gallery_section(ev) -> list[str]:
    """The Grad-CAM gallery and the share of each heat map inside the true lesion."""
    inside = ev.gallery.inside
    lines = ["### Where the network looked (Grad-CAM at the last convolutional stage)", "",
             "True/false positives and negatives, the most confident of each first, with the heat map of the "
             "predicted class over the preprocessed ROI (white outline: the true lesion, where known).", "",
             "![Grad-CAM gallery](gallery.png)", ""]
    if any(v.cases for v in inside.values()):
        lines += ["Share of the heat map inside the true lesion mask, over every held-out case with a mask, beside "
                  "the chance baseline for the same cases: a uniform map's share, i.e. the lesion's share of the "
                  "ROI's pixels.", "",
                  "| outcome | cases | mean share inside the lesion | uniform map (chance) | cases above chance |",
                  "|---|---|---|---|---|"]
        lines += [f"| {k} | {v.cases} | {100 * v.mean:.1f}% | {100 * v.uniform:.1f}% | "
                  f"{100 * v.above_uniform:.0f}% |" for k, v in inside.items() if v.cases]
        lines.append("")
    return lines + gradcam_baselines_lines(ev.gallery.baselines)


def gradcam_baselines_lines(b) -> list[str]:
    """The trained network's share inside the lesion against the baseline maps, with Wilcoxon's paired test."""
    if b is None:
        return []
    words = {"uniform over the ROI": "a uniform map over the whole ROI (the lesion's area share)",
             "uniform over the tissue": "a uniform map over the ROI's non-zero pixels (the tissue the network sees)",
             "random weights": "the same architecture with random weights",
             "null-trained": "the same network trained on shuffled labels (the null model)"}
    lines = [f"Against stricter baselines, over all {b.cases} cases with a mask (`femur_app.evaluation.gallery`): "
             "each baseline map's mean share inside the lesion, the trained network's mean share minus it, and "
             "Wilcoxon's signed-rank test, paired by case (two-sided):", "",
             "| map | mean share inside the lesion | trained minus it | p (Wilcoxon) |", "|---|---|---|---|",
             f"| the trained network (Grad-CAM) | {100 * b.mean:.1f}% | - | - |"]
    lines += [f"| {words[r.name]} | {100 * r.mean:.1f}% | {100 * r.difference:+.1f} points | "
              f"{'n/a (no difference)' if math.isnan(r.p_value) else fmt_p(r.p_value)} |" for r in b.rows]
    if "null-trained" not in {r.name for r in b.rows}:
        lines.append("| the null model | not available: none was trained for this report | - | - |")
    return lines + [""]


def test_predictor(test) -> str:
    """What predicted the test set, in words (metrics.json's "predictor" too)."""
    return f"mean P(malignant) of the {len(test.per_model)} fold models"


def subgroup_section(ev) -> list[str]:
    rows = ev.subgroups
    if not rows:
        return ["### Subgroups", "", "No subgroup variables are known for these data (size and cortical breach are "
                "known for the synthetic set only).", ""]
    lines = ["### Subgroups", "", "Out-of-fold results by the generator's drawn lesion size and cortical breach: AUC "
             "with a patient-bootstrap 95% interval drawn within the subgroup, the generator's ceiling in the "
             "subgroup on the same draws (the best AUC any reader can reach there), sensitivity and specificity "
             "with Wilson 95% intervals:", "",
             "| subgroup | cases (malignant) | AUC [95% CI] | ceiling [95% CI] | sensitivity % | specificity % |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.subgroup} | {r.cases} ({r.malignant}) | {_auc_ci(r.auc, r.auc_ci95)} | "
                     f"{_auc_ci(r.ceiling_auc, r.ceiling_ci95)} | "
                     f"{_ci(r.sensitivity, 'sensitivity')} | {_ci(r.specificity, 'specificity')} |")
    return lines + ["", "Cortical breach is itself a sign of malignancy here, so within each breach subgroup the "
                        "task is harder than overall: that is where the model must read the other signs.", ""]


def failure_section(ev) -> list[str]:
    rows = [failure_record(f) for f in ev.worst_false_negatives]
    if not rows:
        return ["### Failure analysis", "", "No malignant case was called benign.", ""]
    keys = [k for k in rows[0] if k not in ("case_id", "fold", "prob_malignant")]
    lines = ["### Failure analysis: the worst false negatives", "",
             "Malignant cases called benign, the lowest P(malignant) first" +
             (" with the signs the generator drew for them" if keys else "") + ":", "",
             "| case | fold | P(malignant) | " + " | ".join(keys) + " |", "|---" * (3 + len(keys)) + "|"]
    for r in rows:
        lines.append(f"| {r['case_id']} | {r['fold']} | {r['prob_malignant']:.3f} | "
                     + " | ".join(str(r[k]) for k in keys) + " |")
    return lines + ["", "![Worst false negatives](failures.png)", ""]


def failure_record(failure) -> dict:
    """A missed case as metrics.json and the failure table give it: id, fold, P(malignant), then its signs."""
    row = {"case_id": failure.case_id, "fold": failure.fold, "prob_malignant": failure.prob_malignant}
    if failure.signs is not None:
        row.update(vars(failure.signs))
    return row


def counterfactual_section(ev) -> list[str]:
    rows = ev.counterfactuals
    if not rows:
        return []
    lines = ["### Counterfactual sign tests", "",
             "Cases drawn again with one sign switched and everything else - anatomy, acquisition, noise - "
             "identical (`femur_app.evaluation.counterfactual`), predicted by the model of the fold that held them "
             "out. A model that reads the sign moves P(malignant) the expected way.", "",
             "| sign | switched | cases | mean change in P(malignant) | expected | cases moving the expected way |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        if r.cases:
            lines.append(f"| {r.sign} | {r.switch} | {r.cases} | {r.mean_change:+.3f} | {r.expected} | "
                         f"{100 * r.toward_expected:.0f}% |")
    return lines + [""]


def limitations(ev, setup) -> list[str]:
    f = ev.data_facts
    items = []
    if f.ceiling_auc is not None:
        items.append("Synthetic data: the phantoms encode the generator's idea of benign and malignant signs; "
                     "nothing here says how the method does on patients.")
    else:
        items.append(f"Modality {f.modality}: the paper's method was made for MRI; results on other images "
                     "are not a reproduction of its numbers.")
    items.append("Oracle localisation: the ROI comes from a given lesion box (see Data), which a real workflow "
                 "must supply.")
    if ev.test is None:
        items.append("No external test: every figure is cross-validated on one data set; a different hospital, "
                     "scanner or population may do worse.")
    elif not ev.test.external:
        items.append(f"No external test: the test set is {ev.test.scope}; a different hospital, scanner or "
                     "population may do worse.")
    if setup.config.cv.repeats == 1:
        items.append("One cross-validation repetition: the intervals treat the fold models as fixed, so the "
                     "variance of training itself (initialisation, batch order) is not in them (`--repeats K`).")
    if selected_on_reported_set(setup):
        items.append("The quick profile was chosen on the reported set (synthetic_seed "
                     f"{QUICK_SELECTION_SEED}, see Selection): its figures are optimistically biased by that choice.")
    if setup.profile == "quick":
        items.append("The quick profile is a reduced network, not the paper's.")
    if ev.otsu_vs_truth:
        items.append("The paper's Otsu step is not a tumour segmentation (see its agreement with the true lesion "
                     "above): the network sees what the mask keeps, and the mask's outline may itself carry the "
                     "class.")
    return ["## Limitations", "", *[f"- {item}" for item in items], ""]


def otsu_section(ev) -> list[str]:
    rows = ev.otsu_vs_truth
    if not rows:
        return []
    lines = ["### What the paper's Otsu mask keeps and discards", "",
             "The ROI the network sees is the crop masked by Otsu's threshold and the largest region; compared here "
             "with the true lesion mask in the same ROI coordinates (`femur_app.evaluation.roi_agreement`), "
             "medians per class:", "",
             "| class | cases | Dice with the true lesion | lesion pixels discarded | kept pixels outside the lesion "
             "|", "|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r.cases} | {r.dice:.2f} | {100 * r.lesion_discarded:.0f}% | "
                     f"{100 * r.kept_outside_lesion:.0f}% |")
    return lines + ["", "The crop and the box are an oracle's (see Data); the mask keeps one intensity class of "
                        "the crop. `python -m femur_app.compare --models alexnet_bn,alexnet_bn:box,alexnet_bn:mask` "
                        "trains the variants without it (the plain crop, the true mask) on the same folds.", ""]

