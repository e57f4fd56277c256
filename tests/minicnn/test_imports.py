"""No import circle: every module of minicnn imports alone in a fresh interpreter, and the kernels do not pull
in the layers (the layers and the fast tier import the launchers, never the other way round)."""
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import minicnn

ROOT = Path(minicnn.__file__).resolve().parents[1]
MODULES = sorted(info.name for info in pkgutil.walk_packages(minicnn.__path__, "minicnn."))


def fresh(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a new interpreter with this checkout first on sys.path."""
    return subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{code}"],
                          capture_output=True, text=True, cwd=ROOT)


def test_the_walk_finds_the_packages():
    for name in ("minicnn.plain.batchnorm", "minicnn.fast.conv", "minicnn.kernels.registry", "minicnn.layers.conv",
                 "minicnn.tiers", "minicnn.selfcheck"):
        assert name in MODULES


def test_every_module_imports_alone():
    """One interpreter, but before each import every minicnn module is forgotten: an import circle among minicnn's
    modules shows up exactly as in a fresh interpreter (NumPy stays loaded, which saves a second per module)."""
    result = fresh(f"""
import importlib, traceback
failed = []
for name in {MODULES!r}:
    for loaded in [m for m in sys.modules if m == "minicnn" or m.startswith("minicnn.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc(limit=-3))
print("\\n".join(failed) or "all imported")
""")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "all imported", result.stdout[-4000:]


def test_a_circle_would_be_caught(tmp_path):
    """The check above can fail: two modules importing each other's names at the top."""
    (tmp_path / "circle_a.py").write_text("from circle_b import B\nA = 1\n")
    (tmp_path / "circle_b.py").write_text("from circle_a import A\nB = 2\n")
    result = fresh(f"sys.path.insert(0, {str(tmp_path)!r})\nimport circle_a")
    assert result.returncode != 0 and "partially initialized module" in result.stderr


@pytest.mark.parametrize("name", ["minicnn.kernels.batchnorm", "minicnn.kernels", "minicnn.fast", "minicnn.plain",
                                  "minicnn.optim", "minicnn.losses"])
def test_the_engine_below_the_layers_loads_no_layer_and_no_registry(name):
    result = fresh(f"import {name}\n"
                   "loaded = sorted(m for m in sys.modules if m.startswith(('minicnn.layers', 'minicnn.kernels.registry',"
                   " 'minicnn.kernels.cases', 'cupy')))\n"
                   "print(loaded)")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
