"""Training: the folds (``folds``), one fold (``fold``), the run folder (``run_folder``) and the whole
cross-validation (``cross_validation``).

``femur_app.training.run(config, run_dir)`` is the API that ``python -m femur_app.train`` and
``python -m femur_app.compare`` call.
"""
from femur_app.training.cross_validation import RunResult, run

__all__ = ["RunResult", "run"]
