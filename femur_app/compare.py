"""``python -m femur_app.compare``: every model through the same cross-validation, side by side.

For each CNN in ``--models`` it runs ``femur_app.train`` into ``<out>/<model>`` (a finished run folder is reused,
an interrupted one resumed), and for ``radiomics`` it fits the hand-crafted-feature baseline
(``femur_app.radiomics``) on exactly the same folds. Then it writes into ``<out>``:

    comparison.md    one table of pooled metrics with 95% CIs, and DeLong's paired test of every model's AUC
                     against the first model's, stating plainly whether each difference is significant
    comparison.csv   the same table as numbers
    roc_all.png      the pooled out-of-fold ROC curve of every model

All models see the same cases and the same folds (the fold column of every predictions.csv is checked to be
identical), so the AUC differences are paired and DeLong's test applies.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from femur_app import train
from femur_app.models import radiomics
from femur_app.training.folds import assign_folds
from femur_app.evaluation.delong import delong_test
from femur_app.evaluation.metrics import summarize, to_json_safe
from femur_app.reporting.plots import save_figure

CNN_MODELS = ("alexnet_bn", "alexnet", "googlenet")
LABELS = {"alexnet_bn": "AlexNet-BN", "alexnet": "AlexNet (no BN)", "googlenet": "GoogLeNet",
          "radiomics": "Radiomics + logistic regression"}
METRICS = ("accuracy", "precision", "sensitivity", "specificity", "f1", "auc")


def train_args(model: str, args, out: Path) -> list[str]:
    """The ``femur_app.train`` command line for one CNN of the comparison."""
    argv = ["--model", model, "--out", str(out)]
    for flag, value in (("--seed", args.seed), ("--epochs", args.epochs), ("--folds", args.folds),
                        ("--jobs", args.jobs), ("--data", args.data), ("--device", args.device)):
        if value is not None:
            argv += [flag, str(value)]
    if args.quick:
        argv.append("--quick")
    if model == "googlenet":  # the paper's L2 names AlexNet's conv3-conv5, which GoogLeNet does not have;
        argv += ["--set", "model.l2_layers=[]", "--set", "model.dropout=0.4"]  # GoogLeNet's own dropout
    return argv + [item for text in args.set for item in ("--set", text)]


def run_radiomics(args, out: Path) -> dict:
    """The radiomics baseline on the same data and folds as the CNN runs; writes a run folder like train's."""
    cfg = train.resolve_config(train.parse_args(train_args("alexnet_bn", args, out)))
    out.mkdir(parents=True, exist_ok=True)
    data = train.load_data(cfg, out)
    folds = assign_folds(data.y, data.patient_ids, cfg["cv"]["folds"], cfg["seed"])
    features = radiomics.feature_matrix(data.X, n_jobs=cfg["run"]["jobs"])
    probs = np.empty(len(data.y))
    for fold in np.unique(folds):
        held = folds == fold
        probs[held] = radiomics.fit_predict(features[~held], data.y[~held], features[held])
    threshold = cfg["cv"]["threshold"]
    train.write_atomic(out / "predictions.csv", train.csv_text(
        ["case_id", "patient_id", "fold", "label", "prob_malignant", "pred"],
        [[data.case_ids[i], data.patient_ids[i], int(folds[i]), int(data.y[i]), repr(float(probs[i])),
          int(probs[i] >= threshold)] for i in range(len(data.y))]))
    metrics = summarize(data.y, probs, folds, data.patient_ids, threshold=threshold,
                        bootstrap_replicates=cfg["cv"]["bootstrap"], seed=cfg["seed"])
    train.write_atomic(out / "metrics.json", json.dumps(to_json_safe(metrics), indent=2))
    return metrics


def read_predictions(run_dir: Path) -> dict[str, np.ndarray]:
    with open(run_dir / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{run_dir / 'predictions.csv'}: no predictions")
    return {"case_id": np.array([r["case_id"] for r in rows]), "fold": np.array([int(r["fold"]) for r in rows]),
            "label": np.array([int(r["label"]) for r in rows]),
            "prob": np.array([float(r["prob_malignant"]) for r in rows])}


def check_same_folds(runs: dict[str, dict]) -> None:
    """Every model must have predicted the same cases in the same folds, or the comparison is not paired."""
    (first, ref), *others = runs.items()
    for name, run in others:
        for key in ("case_id", "fold", "label"):
            if not np.array_equal(run[key], ref[key]):
                raise ValueError(f"compare: {name} and {first} differ in their {key} column; "
                                 "the models were not evaluated on the same folds")


def ci_text(entry: dict, percent: bool) -> str:
    scale = 100 if percent else 1
    value, (low, high) = entry["value"], entry["ci95"]
    if value is None:
        return "undefined"
    fmt = "{:.1f}" if percent else "{:.3f}"
    return f"{fmt.format(value * scale)} [{fmt.format(low * scale)}, {fmt.format(high * scale)}]"


def comparison_table(metrics: dict[str, dict]) -> str:
    lines = ["| model | accuracy % | precision % | sensitivity % | specificity % | F1 | AUC |",
             "|---|---|---|---|---|---|---|"]
    for name, m in metrics.items():
        p = m["pooled"]
        lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(
            ci_text(p[k], percent=k not in ("f1", "auc")) for k in METRICS) + " |")
    return "\n".join(lines)


def delong_section(runs: dict[str, dict]) -> tuple[str, list[dict]]:
    (ref_name, ref), *others = runs.items()
    lines = [f"DeLong's paired test of each model's pooled AUC against {LABELS.get(ref_name, ref_name)}'s "
             "(two-sided, alpha = 0.05; no correction for multiple comparisons):", "",
             "| model | AUC | difference vs reference [95% CI] | p | verdict |", "|---|---|---|---|---|"]
    rows = []
    for name, run in others:
        r = delong_test(ref["label"], ref["prob"], run["prob"])
        verdict = (f"{LABELS.get(ref_name, ref_name)} is significantly "
                   f"{'better' if r.difference > 0 else 'worse'}" if r.p_value < 0.05
                   else "not significant: the data do not show a difference")
        lines.append(f"| {LABELS.get(name, name)} | {r.auc_b:.3f} | {r.difference:+.3f} "
                     f"[{r.ci95[0]:+.3f}, {r.ci95[1]:+.3f}] | {r.p_value:.3g} | {verdict} |")
        rows.append({"model": name, "reference": ref_name, "auc": r.auc_b, "difference": r.difference,
                     "p_value": r.p_value})
    return "\n".join(lines), rows


def plot_all_rocs(runs: dict[str, dict], path: Path) -> Path:
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = plt.subplots(figsize=(5.4, 5))
    for name, run in runs.items():
        fpr, tpr, _ = roc_curve(run["label"], run["prob"])
        ax.plot(fpr, tpr, lw=2, label=f"{LABELS.get(name, name)} (AUC {roc_auc_score(run['label'], run['prob']):.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="0.5", lw=1)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title="Pooled out-of-fold ROC, same folds")
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m femur_app.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="alexnet_bn,alexnet,googlenet,radiomics",
                        help="comma-separated; the first is the reference of the tests (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="folder for the runs and the comparison (default runs/compare[-quick])")
    parser.add_argument("--quick", action="store_true", help="the quick profile for every CNN (reduced variants)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--folds", type=int)
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--data")
    parser.add_argument("--device", choices=("cpu", "cuda"))
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="passed to every train run, e.g. --set train.lr=0.005")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(CNN_MODELS) - {"radiomics"})
    if unknown or len(models) < 2:
        print(f"error: --models needs two or more of {', '.join(CNN_MODELS + ('radiomics',))}; got {models}",
              file=sys.stderr)
        return 2
    out = args.out or Path("runs") / ("compare-quick" if args.quick else "compare")
    metrics = {}
    for model in models:
        run_dir = out / model
        print(f"== {LABELS[model]} -> {run_dir}", flush=True)
        if model == "radiomics":
            metrics[model] = run_radiomics(args, run_dir)
        else:
            status = train.main(train_args(model, args, run_dir))
            if status:
                return status
            metrics[model] = json.loads((run_dir / "metrics.json").read_text())
    runs = {model: read_predictions(out / model) for model in models}
    check_same_folds(runs)
    table = comparison_table(metrics)
    tests, rows = delong_section(runs)
    plot_all_rocs(runs, out / "roc_all.png")
    train.write_atomic(out / "comparison.csv", train.csv_text(
        ["model", *METRICS, "delong_p_vs_reference"],
        [[m, *(metrics[m]["pooled"][k]["value"] for k in METRICS),
          next((r["p_value"] for r in rows if r["model"] == m), "")] for m in models]))
    variant = (" The CNNs are the quick profile's reduced CPU variants (a quarter of the channels, 64 x 64 input),"
               " not the paper's full-size networks." if args.quick else "")
    text = (f"# Model comparison\n\nSame cases, same folds (checked), pooled out-of-fold predictions; "
            f"95% CIs: Wilson for proportions, patient bootstrap for F1 and AUC.{variant}\n\n{table}\n\n{tests}\n\n"
            f"![ROC curves](roc_all.png)\n\nEach model's own run folder (report, learning curves) is beside this file.\n")
    train.write_atomic(out / "comparison.md", text)
    print(f"{out / 'comparison.md'}\n{table}\n\n{tests}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
