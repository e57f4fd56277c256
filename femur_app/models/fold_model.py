"""A trained fold's model as one value, and ``predict``: prepared images in, P(malignant) out.

A ``FoldModel`` is what every consumer of a trained model takes - the independent test set, the Grad-CAM gallery,
the counterfactual sign tests, ``python -m femur_app.predict`` and ``explain``: the network together with what
predicting needs, all read from its checkpoint once (``femur_app.models.checkpoint.load``; a run's fold models:
``femur_app.training.run_folder.fold_models``):

    model          the network, in evaluation mode whenever it predicts (running BN statistics, no dropout)
    normalisation  its training fold's per-channel statistics: new images are standardised exactly as in training
    threshold      P(malignant) at or above which a case is called malignant (the run's cv.threshold)
    operating_threshold   the threshold the fold fixed on its own training cases for sensitivity >= 0.90
                   (``femur_app.evaluation.operating_point``; None in a checkpoint from before it was recorded)
    fold           the cross-validation fold it was trained for (None: a checkpoint that does not say)
    architecture, input_size, preprocess, model_kwargs   how to rebuild and feed it: the registry name, the side
                   of the square input, the preprocessing options it was trained with
                   (``femur_app.data.preprocess``) and the builder's arguments (width, dropout, ...)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from femur_app.data.normalise import Normalisation
from minicnn import backend
from minicnn.layers import Sequential
from minicnn.losses import softmax


def predict(model, X: np.ndarray, normalisation: Normalisation, batch_size: int, device: str = "cpu") -> np.ndarray:
    """P(malignant) of every prepared image of ``X`` (N, C, S, S), standardised by ``normalisation``, in evaluation
    mode, ``batch_size`` at a time on ``device`` ("cpu" or "cuda") -> float64 (N,)."""
    probs = []
    for start in range(0, len(X), batch_size):
        x = normalisation.apply(X[start : start + batch_size])
        logits = model.forward(backend.to_gpu(x) if device == "cuda" else x, train=False)
        probs.append(backend.to_cpu(softmax(logits))[:, 1])
    return np.concatenate(probs).astype(np.float64)


@dataclass(frozen=True)
class FoldModel:
    model: Sequential
    normalisation: Normalisation
    threshold: float
    fold: int | None
    architecture: str
    input_size: int
    preprocess: dict = field(default_factory=dict)  # keyword arguments of femur_app.data.preprocess.preprocess
    operating_threshold: float | None = None
    model_kwargs: dict = field(default_factory=dict)  # the builder's arguments (Grad-CAM's random twin)

    def predict(self, X: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """P(malignant) of prepared images ``X`` (N, C, S, S) on the CPU (``predict``)."""
        return predict(self.model, X, self.normalisation, batch_size)

    def standardise(self, X: np.ndarray) -> np.ndarray:
        """Prepared images as the network takes them: standardised by the training fold's statistics, float32."""
        return self.normalisation.apply(X).astype(np.float32)
