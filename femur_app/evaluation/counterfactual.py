"""Counterfactual sign tests on the synthetic set: does the network's P(malignant) follow the imaging signs?

For each sign - cortical breach, sclerotic rim, periosteal reaction, marrow oedema - a few cases are drawn again
with only that sign switched (``SyntheticSet.case`` in ``femur_app.data.synthetic``: the same anatomy, acquisition
and noise; switching the breach also moves the lesion, which must cross the cortex or fit inside it), preprocessed
exactly as in training, and predicted by the model of the fold that held the case out (a ``FoldModel``: with that
fold's normalisation). The change is ``P(switched) - P(as drawn)``, where P(as drawn) is the case's out-of-fold prediction.

    switched off: the first ``k`` cases (in case order) that show the sign
    switched on:  the first ``k`` cases that lack it (periosteal reaction: among cases with a breach, as the
                  generator draws it only there)

Breach, periosteal reaction and oedema are malignant signs, the rim a benign one, so switching a malignant sign
on should raise P(malignant) and switching the rim on should lower it. ``toward_expected`` is the share of cases
that moved that way (a change of exactly 0 counts as not).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femur_app.data.dataset import Prepared
from femur_app.data.preprocess import preprocess
from femur_app.models.fold_model import FoldModel
from minicnn.losses import softmax

# sign: (is it present?, changes that switch it off, changes that switch it on, does "on" raise P(malignant)?)
SIGNS = {
    "cortical breach": (lambda s: s.breach, {"breach": False, "periosteal": "none"}, {"breach": True}, True),
    "sclerotic rim": (lambda s: s.rim > 0, {"rim": 0.0}, {"rim": 0.7}, False),
    "periosteal reaction": (lambda s: s.periosteal != "none", {"periosteal": "none"}, {"periosteal": "lamellated"},
                            True),
    "marrow oedema": (lambda s: s.oedema > 0, {"oedema": 0.0}, {"oedema": 0.6}, True),
}


@dataclass(frozen=True)
class SignTest:
    """One sign switched one way in ``cases`` cases: each case's change in P(malignant), their mean, and the share
    that moved the ``expected`` way ("up" or "down"); None for the mean and share without cases."""

    sign: str
    switch: str  # "on" or "off"
    cases: int
    mean_change: float | None
    toward_expected: float | None
    expected: str
    changes: list[float]


def cases_per_switch(n: int) -> int:
    """k: 2 for a smoke-sized set, n / 25 up to 20 for larger ones (20 for the paper's 500)."""
    return min(20, max(2, n // 25))


def candidates(signs, sign: str, switch_on: bool) -> list[int]:
    present = SIGNS[sign][0]
    if switch_on and sign == "periosteal reaction":
        return [i for i, s in enumerate(signs) if s.breach and not present(s)]
    return [i for i, s in enumerate(signs) if bool(present(s)) != switch_on]


def sign_tests(models: dict[int, FoldModel], data: Prepared, predictions, index) -> list[SignTest]:
    """One ``SignTest`` per sign and direction; ``models``: the fold models by fold; ``data``: cases of a
    synthetic set (with its ``SyntheticSet`` and signs), ``index``: each one's case index in that set, and
    ``predictions``: their out-of-fold predictions, in the same order."""
    spec, signs = data.synthetic, data.signs
    k = cases_per_switch(spec.n)
    rows = []
    for sign, (_, off, on, raises) in SIGNS.items():
        for switch_on in (False, True):
            chosen = candidates(signs, sign, switch_on)[:k]
            changes = []
            for i in chosen:
                model = models[int(predictions.folds[i])]
                case = spec.case(int(index[i]), **(on if switch_on else off))
                image = preprocess(case.image, case.box, size=model.input_size, mask=case.mask,
                                   **model.preprocess).image
                p = float(softmax(model.model.forward(model.standardise(image[None, None]), train=False))[0, 1])
                changes.append(p - float(predictions.probs[i]))
            expected_sign = 1 if raises == switch_on else -1
            rows.append(SignTest(sign, "on" if switch_on else "off", len(changes),
                                 float(np.mean(changes)) if changes else None,
                                 float(np.mean([expected_sign * c > 0 for c in changes])) if changes else None,
                                 "up" if expected_sign > 0 else "down", changes))
    return rows
