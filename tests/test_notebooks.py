"""The labs in docs/labs/ are Jupyter notebooks kept as text (jupytext Markdown); each one runs here, top to bottom.

A lab is read by jupytext and executed by nbclient in a fresh ipykernel, from the repository root, with
matplotlib's non-interactive backend, so a lab that runs here runs for a learner who opens it in Jupyter.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted((ROOT / "docs" / "labs").glob("*.md"))


def test_the_three_labs_exist():
    assert {"backprop_by_hand.md", "batchnorm_lab.md", "training_bn_lab.md"} <= {path.name for path in LABS}


@pytest.mark.parametrize("path", LABS, ids=[path.name for path in LABS])
def test_lab_runs(path, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = jupytext.read(path)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert len(code_cells) >= 3, f"{path.name}: jupytext found only {len(code_cells)} code cells"
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    client = nbclient.NotebookClient(notebook, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, when a cell fails
    outputs = [output for cell in code_cells for output in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
