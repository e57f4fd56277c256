"""The record of the paper profile trained at full size, and the numbers docs/training.md quotes from it.

    python docs/paper_run_record.py collect RUN_DIR [--commit SHA] [--note TEXT]   # run folder -> the record
    python docs/paper_run_record.py figure                                       # record -> the curves figure
    python docs/paper_run_record.py numbers                                      # record -> the quoted numbers
    python docs/paper_run_record.py table                                        # record -> docs/training.md's two tables

``RUN_DIR`` is the folder of ``python -m femur_app.train --out RUN_DIR`` with nothing reduced (AlexNet-BN at
224 x 224, width 1, 67 epochs, 10 folds: ``femur_app/configs/paper.toml``). ``collect`` reads the finished folds'
result files (``folds/fold_NN.json``: held-out probabilities, per-epoch history, peak RSS), the run's
``config.toml`` and the labels of the synthetic set (``SyntheticSet.labels``: no image is read), and writes
``docs/figures/paper_run.json``: per fold the AUC, sensitivity, specificity and accuracy at the configured
threshold, the epochs, the seconds per epoch, the peak resident memory and the learning curves, plus the metrics
pooled over the finished folds with their intervals (``femur_app.evaluation.metrics.summarize``, the code every
report uses), the machine and its BLAS. ``tests/test_paper_run_record.py`` checks that every figure
docs/training.md quotes is the one ``numbers`` prints from the committed record.
"""
from __future__ import annotations

import argparse
import json
import platform
import os
import sys
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from femur_app.config import resolve  # noqa: E402
from femur_app.data.source import load  # noqa: E402
from femur_app.data.synthetic import SyntheticSet  # noqa: E402
from femur_app.evaluation.metrics import fold_metrics, summarize, to_json_safe  # noqa: E402
from femur_app.training.fold import make_model  # noqa: E402
from femur_app.training.run_folder import fold_models  # noqa: E402
from paper_profile_diagnosis import watch  # noqa: E402  (docs/, beside this script)

RECORD = ROOT / "docs" / "figures" / "paper_run.json"
FIGURE = ROOT / "docs" / "figures" / "paper_run_curves.png"
CURVES = ("train_loss", "heldout_loss", "heldout_acc", "heldout_auc", "seconds")
EARLY = 30  # the first epochs, over which the text describes the plateau


def cpu_model() -> str:
    """The processor as /proc/cpuinfo names it, with its family and model numbers (Linux), else platform's."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    field = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in info.splitlines()[:30])}
    return f"{field.get('model name', '?')} (family {field.get('cpu family', '?')}, model {field.get('model', '?')})"


def blas() -> list[dict]:
    from threadpoolctl import threadpool_info

    return [{k: lib.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for lib in threadpool_info() if lib.get("user_api") == "blas"]


def rounded(values, digits=4):
    return [None if v is None else round(float(v), digits) for v in values]


def probe(run_dir: Path, fold_cases: dict[int, list[str]]) -> dict[int, dict]:
    """What each finished fold's final model does with its held-out images (evaluation mode): the share of dead
    units of every ReLU (0 for every held-out image), the spread (sd) of the logit difference z1 - z0 and of
    P(malignant) over those images - a spread near 0 means the network answers (nearly) the same for every image.
    Reads the run's own checkpoints and the prepared images (from the data cache when it holds them)."""
    config = resolve([run_dir / "config.toml"])
    data = load(config.data.source, config.data)
    row = {case: i for i, case in enumerate(data.case_ids)}
    out = {}
    for fold, model in fold_models(run_dir, sorted(fold_cases)).items():
        held_out = data.X[[row[c] for c in fold_cases[fold]]]
        x = model.standardise(held_out)
        watched = watch(model.model, x)
        # the same images through the network as initialised (the fold's seed stream is not reproduced: any draw
        # of the paper's initialisation shows the same scales)
        fresh = watch(make_model(config.model, config.train, config.data.input_size,
                                 np.random.default_rng(config.seed)), x)
        out[fold] = {"dead": watched["dead"], "logit_spread": round(watched["logit_spread"], 4),
                     "prob_spread": round(float(np.std(model.predict(held_out))), 4),
                     "rms": {k: round(v, 4) for k, v in watched["rms"].items()},
                     "at_initialisation": {"rms": {k: float(f"{v:.4g}") for k, v in fresh["rms"].items()},
                                           "logit_spread": float(f"{fresh['logit_spread']:.4g}"),
                                           "dead": fresh["dead"]}}
    return out


def collect(run_dir: Path, commit: str, note: str) -> dict:
    config = tomllib.loads((run_dir / "config.toml").read_text())
    data, train, cv = config["data"], config["train"], config["cv"]
    if data["source"] != "synthetic":
        raise SystemExit(f"{run_dir}: a record is made of a synthetic run only (labels from the generator)")
    labels_all = SyntheticSet(data["n"], data["n_malignant"], data["synthetic_seed"]).labels()
    threshold = cv["threshold"]
    folds, case_ids, probs, fold_of = [], [], [], []
    for path in sorted((run_dir / "folds").glob("fold_*.json")):
        result = json.loads(path.read_text())
        if result["status"] != "finished" or result["epochs_run"] != train["epochs"]:
            raise SystemExit(f"{path}: status {result['status']} after {result['epochs_run']} epochs; the record "
                             "keeps folds trained to the end only")
        y = labels_all[[int(c.split("_")[1]) for c in result["case_ids"]]]
        m = fold_metrics(result["fold"], y, result["prob_malignant"], threshold)
        seconds = [h["seconds"] for h in result["history"]]
        folds.append({
            "fold": result["fold"], "n_train": result["n_train"], "n_test": result["n_test"],
            "n_test_malignant": m.malignant, "epochs": result["epochs_run"],
            **{k: round(getattr(m, k), 4) for k in ("auc", "sensitivity", "specificity", "accuracy")},
            "confusion": {k: getattr(m.confusion, k) for k in ("tn", "fp", "fn", "tp")},
            "seconds": round(result["seconds"], 1), "seconds_per_epoch_median": round(float(np.median(seconds)), 1),
            "peak_rss_mib": None if result.get("peak_rss_mib") is None else round(result["peak_rss_mib"]),
            "curves": {k: rounded([h.get(k) for h in result["history"]]) for k in CURVES},
        })
        case_ids += result["case_ids"]
        probs += result["prob_malignant"]
        fold_of += [result["fold"]] * len(result["case_ids"])
    if not folds:
        raise SystemExit(f"{run_dir}: no finished fold yet")
    held_out = {f["fold"]: [c for c, k in zip(case_ids, fold_of) if k == f["fold"]] for f in folds}
    probed = probe(run_dir, held_out)
    for f in folds:
        f["final_model"] = probed[f["fold"]]
    y = labels_all[[int(c.split("_")[1]) for c in case_ids]]
    pooled = summarize(y, np.array(probs), np.array(fold_of), np.array(case_ids), threshold=threshold,
                       bootstrap_replicates=cv["bootstrap"], seed=config["seed"]).pooled
    return to_json_safe({
        "about": "The paper profile (python -m femur_app.train, nothing reduced) trained at full size on the "
                 "default synthetic set; written by docs/paper_run_record.py collect from the run folder.",
        "command": "python -m femur_app.train --out RUN_DIR", "commit": commit, "note": note,
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "blas": blas(),
                    "python": platform.python_version(), "numpy": np.__version__},
        "profile": {"input_size": data["input_size"], "width": config["model"]["width"], "epochs": train["epochs"],
                    "batch_size": train["batch_size"], "lr": train["lr"], "momentum": train["momentum"],
                    "init": train["init"], "init_std": train["init_std"], "schedule": train["schedule"],
                    "folds": cv["folds"], "seed": config["seed"], "synthetic_seed": data["synthetic_seed"],
                    "threshold": threshold},
        "folds": folds,
        "pooled": {"folds": [f["fold"] for f in folds], "cases": len(case_ids), "malignant": int(y.sum()),
                   **{k: {"value": round(getattr(pooled, k).value, 4), "ci95": rounded(getattr(pooled, k).ci95)}
                      for k in ("auc", "sensitivity", "specificity", "accuracy")}},
    })


def numbers(record: dict) -> dict[str, str]:
    """The figures docs/training.md quotes, as they are written there, by name."""
    out = {"folds finished": str(len(record["folds"])), "commit": record["commit"][:7]}
    for f in record["folds"]:
        k = f["fold"]
        out[f"fold {k} AUC"] = f"{f['auc']:.3f}"
        out[f"fold {k} sensitivity"] = f"{100 * f['sensitivity']:.1f} %"
        out[f"fold {k} specificity"] = f"{100 * f['specificity']:.1f} %"
        out[f"fold {k} s/epoch"] = f"{f['seconds_per_epoch_median']:.1f} s"
        out[f"fold {k} peak RSS"] = f"{f['peak_rss_mib']} MiB"
        out[f"fold {k} best held-out AUC"] = f"{max(a for a in f['curves']['heldout_auc'] if a is not None):.3f}"
    early = [f["curves"]["train_loss"][:EARLY] for f in record["folds"]]
    out["early loss, lowest fold mean"] = f"{min(np.mean(loss) for loss in early):.2f}"
    out["early loss, highest fold mean"] = f"{max(np.mean(loss) for loss in early):.2f}"
    early_auc = [[a for a in f["curves"]["heldout_auc"][:EARLY] if a is not None] for f in record["folds"]]
    lows, highs = [min(a) for a in early_auc], [max(a) for a in early_auc]
    out["early AUC lows"] = f"{min(lows):.2f}-{max(lows):.2f}"
    out["early AUC highs"] = f"{min(highs):.2f}-{max(highs):.2f}"
    seconds = [s for f in record["folds"] for s in f["curves"].get("seconds", [])]
    if seconds:
        out["fastest epoch"], out["slowest epoch"] = f"{min(seconds):.0f} s", f"{max(seconds):.0f} s"
    initial = record["folds"][0]["final_model"]["at_initialisation"]
    out["initial conv1 RMS"], out["initial conv5 RMS"] = f"{initial['rms']['conv1']:.3f}", f"{initial['rms']['conv5']:.4f}"
    out["initial logit spread"] = f"{initial['logit_spread']:.4f}"
    p = record["pooled"]
    out["pooled AUC"] = f"{p['auc']['value']:.3f} [{p['auc']['ci95'][0]:.3f}, {p['auc']['ci95'][1]:.3f}]"
    for name in ("sensitivity", "specificity", "accuracy"):
        value, (lo, hi) = p[name]["value"], p[name]["ci95"]
        out[f"pooled {name}"] = f"{100 * value:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]"
    return out


def table(record: dict) -> str:
    """The Markdown table docs/training.md shows, built from ``numbers`` (so the table and the list agree)."""
    n = numbers(record)
    rows = ["| fold | AUC | sensitivity | specificity | best held-out AUC (epoch) | s / epoch (median) | peak RSS |",
            "|---|---|---|---|---|---|---|"]
    for f in record["folds"]:
        k = f["fold"]
        aucs = f["curves"]["heldout_auc"]
        best = max(range(len(aucs)), key=lambda i: -1 if aucs[i] is None else aucs[i])
        rows.append(f"| {k} | {n[f'fold {k} AUC']} | {n[f'fold {k} sensitivity']} | {n[f'fold {k} specificity']} | "
                    f"{n[f'fold {k} best held-out AUC']} ({best + 1}) | {n[f'fold {k} s/epoch']} | "
                    f"{n[f'fold {k} peak RSS']} |")
    p = record["pooled"]
    rows.append(f"| pooled ({len(record['folds'])} folds, {p['cases']} cases) | {n['pooled AUC']} | "
                f"{n['pooled sensitivity']} | {n['pooled specificity']} | | | |")
    return "\n".join(rows)


def probe_table(record: dict) -> str:
    """The Markdown table of what each fold's final model does on its held-out images (``probe``), and the same
    images through the network as initialised: dead ReLU shares, the spread of P(malignant) and of z1 - z0."""
    relus = [f"relu{k}" for k in range(1, 8)]
    names = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"]
    rows = ["| model | sd of P(malignant) | sd of z1 - z0 | " + " | ".join(f"dead after {n}" for n in names) + " |",
            "|---|---|---|" + "---|" * len(names)]
    for f in record["folds"]:
        m = f["final_model"]
        rows.append(f"| fold {f['fold']}, after {f['epochs']} epochs | {m['prob_spread']:.4f} | {m['logit_spread']:.4f} | "
                    + " | ".join(f"{100 * m['dead'][r]:.0f} %" for r in relus) + " |")
    first = record["folds"][0]["final_model"]["at_initialisation"]
    rows.append(f"| as initialised (fold {record['folds'][0]['fold']}'s images) | | {first['logit_spread']:.4f} | "
                + " | ".join(f"{100 * first['dead'][r]:.0f} %" for r in relus) + " |")
    return "\n".join(rows)


def figure(record: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for i, f in enumerate(record["folds"]):
        c = f"C{i}"
        epochs = np.arange(1, f["epochs"] + 1)
        axes[0].plot(epochs, f["curves"]["train_loss"], color=c, lw=1, label=f"fold {f['fold']} training")
        axes[0].plot(epochs, f["curves"]["heldout_loss"], color=c, lw=1, ls="--", label=f"fold {f['fold']} held out")
        axes[1].plot(epochs, [np.nan if a is None else a for a in f["curves"]["heldout_auc"]], color=c, lw=1,
                     label=f"fold {f['fold']}")
        axes[2].plot(epochs, f["curves"]["heldout_acc"], color=c, lw=1, label=f"fold {f['fold']}")
    prevalence = record["pooled"]["malignant"] / record["pooled"]["cases"]
    axes[1].axhline(0.5, color="grey", lw=0.8, ls=":", label="chance")
    axes[2].axhline(1 - prevalence, color="grey", lw=0.8, ls=":", label="always benign")
    for ax, title in zip(axes, ("cross-entropy (solid: training, augmented; dashed: held out)",
                                "held-out AUC", "held-out accuracy at P >= 0.5")):
        ax.set_xlabel("epoch")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    fig.suptitle(f"Paper profile (AlexNet-BN, 224 px, width 1, {record['profile']['epochs']} epochs), default "
                 f"synthetic set, seed {record['profile']['seed']}: {len(record['folds'])} of "
                 f"{record['profile']['folds']} folds", fontsize=10)
    fig.tight_layout()
    fig.savefig(FIGURE, dpi=110)
    plt.close(fig)
    return FIGURE


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect")
    c.add_argument("run_dir", type=Path)
    c.add_argument("--commit", required=True, help="the commit the run was trained at")
    c.add_argument("--note", default="", help="how the run went (machine shared? interrupted and resumed?)")
    sub.add_parser("figure")
    sub.add_parser("numbers")
    sub.add_parser("table")
    args = parser.parse_args(argv)
    if args.command == "collect":
        record = collect(args.run_dir, args.commit, args.note)
        RECORD.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {RECORD} ({len(record['folds'])} folds)")
    elif args.command == "figure":
        print(f"wrote {figure(json.loads(RECORD.read_text()))}")
    elif args.command == "table":
        record = json.loads(RECORD.read_text())
        print(table(record) + "\n\n" + probe_table(record))
    else:
        for name, value in numbers(json.loads(RECORD.read_text())).items():
            print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
