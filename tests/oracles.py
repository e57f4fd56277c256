"""Optional test oracles (PyTorch): skipped when absent, but a hard failure in CI where they must run."""
import os

import pytest


def require_torch():
    """Import torch, or skip - unless MINICNN_REQUIRE_TORCH=1 (set by .ci/run), where a missing oracle fails."""
    if os.environ.get("MINICNN_REQUIRE_TORCH") == "1":
        import torch  # noqa: F401  (an ImportError here fails the test, as it should in CI)
    torch = pytest.importorskip("torch")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    return torch
