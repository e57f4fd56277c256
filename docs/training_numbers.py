"""The record of the README's main job repeated, and the results block docs/training.md quotes from it.

    python docs/training_numbers.py collect RUN_DIR --commit SHA [--note TEXT]   # run folder -> the record
    python docs/training_numbers.py numbers                                     # record -> the quoted block

``RUN_DIR`` is the folder of ``python -m femur_app.train --quick --repeats 5 --out RUN_DIR`` (the README's
command, ``python -m femur_app.train --quick``, is its repetition 1). One run's figures move with the
floating-point details of an engine commit by a good part of their interval, so docs/training.md quotes the
repetitions: each repetition's pooled figures, their mean and sd, and the two-level interval that holds the
variation between trainings (``femur_app.evaluation.repeats``). ``collect`` reads every *finished* repetition
(``repeat_rr/predictions.csv`` and ``metrics.json``; an unfinished one is left out and the record says how many
of the K finished), recomputes each repetition's pooled metrics with their intervals from its predictions
(``femur_app.evaluation.metrics.summarize``, the code every report uses) and, with two or more repetitions, the
mean, sd and two-level interval (``summarize_repeats``, the code of the run's own summary); from each
repetition's ``metrics.json`` it keeps the calibration, the generator's ceiling, the cortical-breach subgroups
and the counterfactual breach switch. It writes ``docs/figures/training_numbers.json``. ``numbers`` prints the
Markdown block that docs/training.md holds verbatim; ``tests/test_training_numbers.py`` checks that it does.
"""
from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from femur_app.evaluation.metrics import summarize, to_json_safe  # noqa: E402
from femur_app.evaluation.predictions import Predictions  # noqa: E402
from femur_app.evaluation.repeats import summarize_repeats  # noqa: E402

RECORD = ROOT / "docs" / "figures" / "training_numbers.json"
COMMAND = "python -m femur_app.train --quick --repeats 5"
RATES = ("sensitivity", "specificity", "accuracy")


def rounded(value, digits=4):
    return None if value is None else round(float(value), digits)


def estimate(entry) -> dict:
    return {"value": rounded(entry.value), "ci95": [rounded(v) for v in entry.ci95]}


def repetition(folder: Path, threshold: float, bootstrap: int) -> tuple[dict, Predictions, np.ndarray]:
    """One finished repetition: its pooled metrics recomputed from predictions.csv, and what its metrics.json
    says of calibration, the ceiling, the breach subgroups and the breach switch."""
    config = tomllib.loads((folder / "config.toml").read_text())
    predictions = Predictions.read_csv(folder / "predictions.csv", threshold)
    order = np.argsort(predictions.case_ids)
    summary = summarize(predictions.labels[order], predictions.probs[order], predictions.folds[order],
                        predictions.patient_ids[order], threshold=threshold, bootstrap_replicates=bootstrap,
                        seed=config["seed"])
    metrics = json.loads((folder / "metrics.json").read_text())
    pooled = summary.pooled
    return {
        "folder": folder.name, "seed": config["seed"], "cases": summary.cases, "malignant": summary.malignant,
        "auc": estimate(pooled.auc), **{name: estimate(getattr(pooled, name)) for name in RATES},
        "fold_auc_mean_sd": [rounded(summary.fold_mean_sd["auc"].mean), rounded(summary.fold_mean_sd["auc"].sd)],
        "calibration": {k: rounded(metrics["calibration"][k]) for k in ("ece", "slope", "intercept")},
        "ceiling_auc": rounded(metrics["data_facts"]["ceiling_auc"]),
        "breach_subgroups": {row["subgroup"]: {"cases": row["cases"], "auc": rounded(row["auc"])}
                             for row in metrics["subgroups"] if "breach" in row["subgroup"]},
        "breach_switch": {row["switch"]: rounded(row["mean_change"]) for row in metrics["counterfactual_signs"]
                          if row["sign"] == "cortical breach"},
    }, predictions, order


def collect(run_dir: Path, commit: str, note: str) -> dict:
    config = tomllib.loads((run_dir / "config.toml").read_text())
    cv = config["cv"]
    threshold, bootstrap = cv["threshold"], cv["bootstrap"]
    finished = [run_dir / f"repeat_{r:02d}" for r in range(1, cv["repeats"] + 1)
                if (run_dir / f"repeat_{r:02d}" / "metrics.json").is_file()]
    if not finished:
        raise SystemExit(f"{run_dir}: no finished repetition yet")
    rows, runs = [], []
    for folder in finished:
        row, predictions, order = repetition(folder, threshold, bootstrap)
        rows.append(row)
        runs.append(Predictions(predictions.case_ids[order], predictions.patient_ids[order],
                                predictions.folds[order], predictions.labels[order], predictions.probs[order],
                                threshold))
    record = {
        "about": "The README's main job repeated with new seeds (python -m femur_app.train --quick --repeats 5) on "
                 "the default synthetic set; written by docs/training_numbers.py collect from the run folder.",
        "command": COMMAND, "commit": commit, "note": note,
        "repeats_configured": cv["repeats"], "repeats_finished": len(rows), "folds": cv["folds"],
        "bootstrap": bootstrap, "threshold": threshold, "repetitions": rows}
    if len(runs) > 1:
        summary = summarize_repeats(runs, [row["seed"] for row in rows], [None] * len(runs), threshold, bootstrap,
                                    config["seed"])
        two_level = summary.ci95_with_training_variance
        record["over_repetitions"] = {
            "mean_sd": {k: [rounded(v.mean), rounded(v.sd)] for k, v in summary.mean_sd.items()},
            "two_level_ci95": {"auc": [rounded(v) for v in two_level.auc],
                               "accuracy": [rounded(v) for v in two_level.accuracy],
                               "replicates": two_level.replicates, "seed": two_level.seed},
            "method": summary.ci_method}
    return to_json_safe(record)


def interval(entry, percent: bool) -> str:
    if percent:
        return f"{100 * entry['value']:.1f}% [{100 * entry['ci95'][0]:.1f}, {100 * entry['ci95'][1]:.1f}]"
    return f"{entry['value']:.3f} [{entry['ci95'][0]:.3f}, {entry['ci95'][1]:.3f}]"


def numbers(record: dict) -> str:
    """The block docs/training.md quotes verbatim: the repetitions' table and the sentences that name figures."""
    rows, k = record["repetitions"], record["repeats_finished"]
    lines = ["| repetition (seed) | AUC [95% CI] | sensitivity | specificity | accuracy |", "|---|---|---|---|---|"]
    for number, row in enumerate(rows, start=1):
        lines.append(f"| {number} ({row['seed']}) | {interval(row['auc'], False)} | "
                     + " | ".join(interval(row[name], True) for name in RATES) + " |")
    lines.append("")
    if "over_repetitions" in record:
        over = record["over_repetitions"]
        ms, ci = over["mean_sd"], over["two_level_ci95"]
        lines += [f"Over the {k} repetitions: AUC {ms['auc'][0]:.3f} ± {ms['auc'][1]:.3f} (mean ± sd), 95% interval "
                  f"with training variance [{ci['auc'][0]:.3f}, {ci['auc'][1]:.3f}] ({over['method']}, "
                  f"{ci['replicates']} replicates); sensitivity {100 * ms['sensitivity'][0]:.1f} ± "
                  f"{100 * ms['sensitivity'][1]:.1f}%, specificity {100 * ms['specificity'][0]:.1f} ± "
                  f"{100 * ms['specificity'][1]:.1f}%, accuracy {100 * ms['accuracy'][0]:.1f} ± "
                  f"{100 * ms['accuracy'][1]:.1f}% (interval [{100 * ci['accuracy'][0]:.1f}, "
                  f"{100 * ci['accuracy'][1]:.1f}])."]
    else:
        first = rows[0]
        lines += [f"**One repetition only** ({k} of the {record['repeats_configured']} configured had finished when "
                  "the record was made): its interval holds the sampling of patients, not the variation between "
                  f"trainings. Its spread over the folds: fold AUC {first['fold_auc_mean_sd'][0]:.3f} ± "
                  f"{first['fold_auc_mean_sd'][1]:.3f} (mean ± sd of the {record['folds']} folds)."]
    first = rows[0]
    breach = first["breach_subgroups"]
    subgroups = "; ".join(f"{name}: {entry['auc']:.3f} ({entry['cases']} cases)" for name, entry in breach.items())
    switch = first["breach_switch"]
    lines += ["", f"Repetition 1 (the README's command itself): calibration ECE {first['calibration']['ece']:.3f}, "
                  f"slope {first['calibration']['slope']:.2f}, intercept {first['calibration']['intercept']:.2f}; "
                  f"the generator's ceiling for the set {first['ceiling_auc']:.3f}; AUC by subgroup {subgroups}; "
                  f"switching the cortical breach on moved P(malignant) by {switch['on']:+.3f} on average, "
                  f"switching it off by {switch['off']:+.3f}. Record: `docs/figures/training_numbers.json`, "
                  f"trained at commit {record['commit'][:7]}."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect")
    c.add_argument("run_dir", type=Path)
    c.add_argument("--commit", required=True, help="the commit the run was trained at")
    c.add_argument("--note", default="", help="how the run went (machine shared? paused and resumed?)")
    sub.add_parser("numbers")
    args = parser.parse_args(argv)
    if args.command == "collect":
        record = collect(args.run_dir, args.commit, args.note)
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {RECORD} ({record['repeats_finished']} of {record['repeats_configured']} repetitions)")
    else:
        print(numbers(json.loads(RECORD.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
