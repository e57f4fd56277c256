"""The one rounding rule for a network's width multiplier (AlexNet, GoogLeNet and the benchmarks use it)."""
from __future__ import annotations


def scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded to the nearest integer, at least 1."""
    return max(1, int(round(channels * width)))
