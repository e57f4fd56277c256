"""A run's fold models are values loaded once: after training, every consumer (the independent test set, the
Grad-CAM gallery, the counterfactual sign tests) predicts with the same FoldModel, so each fold checkpoint is read
once per session - counted here on a 5-fold smoke run with a test set, in a first session and a resumed one."""
from collections import Counter
from pathlib import Path

from femur_app.models import checkpoint
from femur_app.train import main

SMOKE = ["--quick", "--config", "femur_app/configs/smoke.toml", "--set", "cv.bootstrap=50", "--folds", "5",
         "--test-data", "synthetic:2"]


def test_each_fold_checkpoint_is_loaded_once_per_session(tmp_path, monkeypatch):
    real, loads = checkpoint.load_model, Counter()

    def counted(path):
        loads[Path(path).name] += 1
        return real(path)

    monkeypatch.setattr(checkpoint, "load_model", counted)
    expected = {f"fold_{k:02d}.npz": 1 for k in range(1, 6)}
    assert main(["--out", str(tmp_path), *SMOKE]) == 0
    assert dict(loads) == expected
    report = (tmp_path / "report.md").read_text()
    assert "## Test set" in report and "### Counterfactual sign tests" in report and "(gallery.png)" in report
    loads.clear()
    assert main(["--out", str(tmp_path), *SMOKE]) == 0  # resumed: every fold finished, the outputs rebuilt
    assert dict(loads) == expected
