"""Choose the --quick profile's learning rate and initialisation on a set that no reported result uses.

    python docs/select_quick_profile.py            # 6 full 10-fold runs, 2-4 minutes each on 2 cores

The quick profile (``femur_app/configs/quick.toml``) fixes its network width (0.25) and epochs (40) by the time
budget alone. Its other choices are about accuracy: the learning rate, the weight initialisation, the schedule
and the input size (64 or 96 pixels, both within the budget). This script chooses them on **synthetic_seed 1**, a set drawn from independent random streams
(no case in common with the default synthetic_seed 0 set that a quick run reports), by one criterion fixed
before any run: the highest pooled cross-validated AUC on that set. Each candidate is the quick profile with
only those two values changed; everything else, including the seed of the fold split and of the weights, is the
profile's own. The runs and the choice are written to ``docs/figures/quick_selection.json``; ``quick.toml``
quotes them. A default quick run (synthetic_seed 0) is then reported once, with the profile frozen.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from femur_app.config import resolve_options  # noqa: E402
from femur_app.training import run  # noqa: E402
from minicnn.serialize import write_text_atomic  # noqa: E402

SELECTION_SEED = 1  # the synthetic set the choice is made on; never the reported synthetic_seed 0
CANDIDATES = {  # (train.lr, train.init, train.schedule, data.input_size): the paper's values and the alternatives
    "lr 0.01, paper init": (0.01, "normal", "cosine", 64),
    "lr 0.01, He init": (0.01, "he", "cosine", 64),
    "lr 0.005, paper init": (0.005, "normal", "cosine", 64),
    "lr 0.005, He init": (0.005, "he", "cosine", 64),
    "lr 0.005, He init, constant lr": (0.005, "he", "constant", 64),
    "lr 0.005, He init, 96 px": (0.005, "he", "cosine", 96),
}
OUT = ROOT / "docs" / "figures" / "quick_selection.json"


def evaluate(lr: float, init: str, schedule: str, input_size: int, run_dir: Path) -> dict:
    config = resolve_options(quick=True, options={"data": {"synthetic_seed": SELECTION_SEED, "input_size": input_size},
                                                  "train": {"lr": lr, "init": init, "schedule": schedule}})
    start = time.perf_counter()
    result = run(config, run_dir, command="docs/select_quick_profile.py", profile="quick-selection")
    pooled = result.summary.pooled
    return {"lr": lr, "init": init, "schedule": schedule, "input_size": input_size, "pooled_auc": round(pooled.auc.value, 4),
            "pooled_auc_ci95": [round(v, 4) for v in pooled.auc.ci95],
            "accuracy": round(pooled.accuracy.value, 4),
            "seconds": round(time.perf_counter() - start)}


def main() -> int:
    runs = {}
    with tempfile.TemporaryDirectory(prefix="quick_selection_") as scratch:
        for name, candidate in CANDIDATES.items():
            runs[name] = evaluate(*candidate, Path(scratch) / name.replace(" ", "_").replace(",", ""))
            print(f"{name}: pooled AUC {runs[name]['pooled_auc']:.3f} {runs[name]['pooled_auc_ci95']}, "
                  f"{runs[name]['seconds']} s", flush=True)
    chosen = max(runs, key=lambda name: runs[name]["pooled_auc"])
    record = {"selection_set": {"source": "synthetic", "synthetic_seed": SELECTION_SEED},
              "criterion": "highest pooled cross-validated AUC on the selection set, fixed before the runs",
              "fixed": "every other value from femur_app/configs/quick.toml (seed 0 for split and weights)",
              "runs": runs, "chosen": chosen}
    write_text_atomic(OUT, json.dumps(record, indent=2) + "\n")
    print(f"chosen: {chosen} -> {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
