"""Which tier the layers call: ``"plain"`` (``minicnn.plain``, the algorithms as written) or ``"fast"``
(``minicnn.fast``, the same functions made fast; the default).

    minicnn.set_tier("plain")          # from now on, every layer's forward and backward run the plain functions
    with minicnn.tier("plain"):        # only inside the block (the previous tier comes back afterwards)
        loss = train_step(model, x, labels)

Both tiers have the same functions with the same signatures and give the same results to rounding, so a
learner can step through the plain tier in a debugger inside a real training step. A layer remembers the tier
of its forward pass and runs the backward in the same one. The choice is global to the process.
"""
from __future__ import annotations

from contextlib import contextmanager

from minicnn import fast, plain

TIERS = {"plain": plain, "fast": fast}
_selected = "fast"


def set_tier(name: str) -> None:
    """Select the tier every layer calls from now on: ``"plain"`` or ``"fast"``."""
    global _selected
    if name not in TIERS:
        raise ValueError(f"minicnn.set_tier: expected one of {sorted(TIERS)}, got {name!r}")
    _selected = name


def get_tier() -> str:
    """The name of the selected tier."""
    return _selected


def ops():
    """The selected tier's module (``minicnn.plain`` or ``minicnn.fast``), whose functions the layers call."""
    return TIERS[_selected]


@contextmanager
def tier(name: str):
    """``with tier("plain"): ...`` runs the block on that tier and restores the previous one afterwards."""
    previous = _selected
    set_tier(name)
    try:
        yield TIERS[name]
    finally:
        set_tier(previous)
