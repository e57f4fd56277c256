"""The memory budget: what a run, a synthetic set, a preview or a loaded checkpoint may ask of this machine.

Each of them is estimated from the values that decide its size (``model.width``, ``data.input_size``,
``train.batch_size``, ``data.n``, a checkpoint's metadata, ``--n``) before anything is allocated, and refused,
naming those values, when the estimate is above the budget: a refusal then takes no more memory than the
command's start, where going ahead would have ended in a MemoryError or the kernel's OOM killer after minutes.

The budget is ``DEFAULT_SHARE`` (80 %) of the machine's physical memory, or ``FEMUR_APP_MEMORY_GIB`` gibibytes
when that environment variable is set (to allow more, say on a machine with swap, or less, on a shared one).
"""
from __future__ import annotations

import math
import os

from femur_app.errors import ConfigError, UserError

ENV = "FEMUR_APP_MEMORY_GIB"
DEFAULT_SHARE = 0.8
GIB = 2**30


def physical_bytes() -> int:
    """The machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def budget() -> tuple[int, str]:
    """(the budget in bytes, where it comes from); ConfigError naming the variable when it is not a number > 0."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return int(DEFAULT_SHARE * physical_bytes()), f"{DEFAULT_SHARE:.0%} of this machine's {gib(physical_bytes())}"
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{ENV}={text!r}: not a memory budget (expected a number of GiB > 0, e.g. {ENV}=64)")
    return int(value * GIB), f"{ENV}={text}"


def gib(n_bytes: int) -> str:
    """``n_bytes`` in GiB, for messages: ``'17.3 GiB'``; a huge count stays readable (``'6.1e+05 GiB'``)."""
    value = n_bytes / GIB
    return f"{value:.1f} GiB" if value < 1e5 else f"{value:.2g} GiB"


def check(need: int, culprit: str, error: type[UserError] = ConfigError) -> None:
    """``error`` naming ``culprit`` (the values that decide the size) when ``need`` bytes exceed the budget."""
    allowed, source = budget()
    if need > allowed:
        raise error(f"{culprit}: needs about {gib(need)} of memory, more than the budget of {gib(allowed)} "
                    f"({source}) (expected smaller values; {ENV}=N raises the budget to N GiB)")
