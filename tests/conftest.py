"""Shared test helpers for both packages' suites (tests/minicnn/, tests/femur_app/) and the project-wide tests.

This folder holds no ``__init__.py``: pytest puts it on ``sys.path`` because of this conftest, so test modules in
the subfolders import the helpers below with ``from conftest import require_torch``, and the helper modules beside
it the same way (``from btxrd_miniature import ...``: a BTXRD-shaped miniature for femur_app's data and test-set
tests, which sit in different subfolders of tests/femur_app/).
"""
import os

import pytest

from minicnn.fast.allocator import ENVIRONMENT


def require_torch():
    """Import torch, or skip - unless MINICNN_REQUIRE_TORCH=1 (set by .ci/run), where a missing oracle fails."""
    if os.environ.get("MINICNN_REQUIRE_TORCH") == "1":
        import torch  # noqa: F401  (an ImportError here fails the test, as it should in CI)
    torch = pytest.importorskip("torch")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    return torch


@pytest.fixture(autouse=True, scope="session")
def private_prepared_cache(tmp_path_factory):
    """Point femur_app's prepared-data cache at a folder of this test session's own.

    The default cache (``~/.cache/femur_app``) is filled by the README's main job; tests that shared it would give
    another answer (a cache hit instead of a miss) once a user had run ``python -m femur_app.train``.
    """
    folder = tmp_path_factory.mktemp("femur_app_cache")
    previous = os.environ.get("FEMUR_APP_CACHE")
    os.environ["FEMUR_APP_CACHE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("FEMUR_APP_CACHE", None)
    else:
        os.environ["FEMUR_APP_CACHE"] = previous


@pytest.fixture(autouse=True)
def commands_leave_the_allocator_environment(monkeypatch):
    """``train`` and ``compare`` put glibc's malloc variables into their process's environment for the workers
    they start (``minicnn.fast.reuse_freed_memory(children=True)``); a test that calls them in this process must
    not pass them on to the processes later tests start (tests/minicnn/test_fast_allocator.py counts their page
    faults). monkeypatch records each variable as it was when the test began (set, or absent: setenv records
    "absent" before delenv removes it again) and restores it afterwards."""
    for name in ENVIRONMENT:
        present = name in os.environ
        monkeypatch.setenv(name, os.environ.get(name, ""))
        if not present:
            monkeypatch.delenv(name)
