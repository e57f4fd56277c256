"""The labs in docs/labs/ are Jupyter notebooks kept as text (jupytext Markdown), each run here twice.

A lab is read by jupytext and executed by nbclient in a fresh ipykernel, from the repository root, with
matplotlib's non-interactive backend, so a lab that runs here runs for a learner who opens it in Jupyter.

The blanks convention (docs/labs/, HELPERS.md): a cell the learner completes is tagged ``blank`` and, as shipped,
only defines functions that raise NotImplementedError or assigns None; a cell that checks the learner's work is
tagged ``check`` and ``raises-exception``; no other cell depends on a blank. The worked answers are outside the
lab, in ``docs/labs/answers/<lab>.py`` (jupytext percent format, so that the website does not take them for pages):
one cell per blank, starting ``# your turn`` and defining the same names.

1. **As shipped**: every check cell fails, cleanly - with ``NotWrittenYet`` and a one-line message - and no other
   cell fails.
2. **With the answers** in place of the blanks: every cell runs, the check cells included.
"""
from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted((ROOT / "docs" / "labs").glob("*.md"))
ANSWERS = ROOT / "docs" / "labs" / "answers"


def tags(cell) -> set:
    return set(cell.get("metadata", {}).get("tags", []))


def defined_names(source: str) -> list[str]:
    """The names a cell defines at its top level, in order (functions, classes, assignments)."""
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [target.id for target in node.targets if isinstance(target, ast.Name)]
    return names


def answers_for(path: Path) -> dict[str, str]:
    """The worked answers of one lab (``docs/labs/answers/<lab>.py``, a jupytext notebook in percent format):
    {first name a cell defines: the cell's source}, for the cells that start with ``# your turn``."""
    jupytext = pytest.importorskip("jupytext")
    cells = jupytext.read(ANSWERS / f"{path.stem}.py", fmt="py:percent").cells
    return {defined_names(cell.source)[0]: cell.source for cell in cells
            if cell.cell_type == "code" and cell.source.startswith("# your turn\n")}


def execute(notebook):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()  # raises CellExecutionError at the first failing cell not tagged raises-exception
    return notebook


def errors(cell) -> list:
    return [output for output in cell.get("outputs", []) if output.get("output_type") == "error"]


@pytest.fixture
def kernel_environment(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def test_the_three_labs_exist():
    assert {"backprop_by_hand.md", "batchnorm_lab.md", "training_bn_lab.md"} <= {path.name for path in LABS}


@pytest.mark.parametrize("path", LABS, ids=[path.name for path in LABS])
def test_lab_follows_the_blanks_convention(path):
    """Blanks and checks tagged as agreed; a blank, as shipped, only defines what raises or assigns None; every
    blank has its worked answer, defining the same names, and no answer is pasted into the lab."""
    jupytext = pytest.importorskip("jupytext")
    cells = [cell for cell in jupytext.read(path).cells if cell.cell_type == "code"]
    blanks = [cell for cell in cells if "blank" in tags(cell)]
    checks = [cell for cell in cells if "check" in tags(cell)]
    assert len(cells) >= 3 and blanks and checks, path.name
    assert all("raises-exception" in tags(cell) for cell in checks)
    answers = answers_for(path)
    assert sorted(answers) == sorted(defined_names(cell.source)[0] for cell in blanks)
    for cell in blanks:
        assert cell.source.startswith("# your turn\n")
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.FunctionDef):
                last = node.body[-1]
                assert isinstance(last, ast.Raise) and "NotImplementedError" in ast.unparse(last), node.name
            else:
                assert isinstance(node, ast.Assign) and ast.unparse(node.value) == "None", ast.unparse(node)
        assert defined_names(answers[defined_names(cell.source)[0]]) == defined_names(cell.source)
        for block in answers.values():
            assert block.strip() not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", LABS, ids=[path.name for path in LABS])
def test_lab_as_shipped_fails_only_in_its_check_cells_and_cleanly(path, kernel_environment):
    jupytext = pytest.importorskip("jupytext")
    notebook = execute(jupytext.read(path))
    for cell in (cell for cell in notebook.cells if cell.cell_type == "code"):
        found = errors(cell)
        if "check" in tags(cell):
            assert len(found) == 1, cell.source
            assert found[0]["ename"] == "NotWrittenYet", (found[0]["ename"], found[0]["evalue"])
            assert "\n" not in found[0]["evalue"]
            assert any(text in found[0]["evalue"] for text in ("not written yet", "still None"))
        else:
            assert not found, (cell.source, found)


@pytest.mark.parametrize("path", LABS, ids=[path.name for path in LABS])
def test_lab_with_the_answers_runs_through(path, kernel_environment):
    jupytext = pytest.importorskip("jupytext")
    notebook = jupytext.read(path)
    answers = answers_for(path)
    for cell in notebook.cells:
        if "blank" in tags(cell):
            cell.source = answers[defined_names(cell.source)[0]]
    notebook = execute(notebook)
    failed = [(cell.source, errors(cell)) for cell in notebook.cells if errors(cell)]
    assert not failed
    checked = [cell for cell in notebook.cells if "check" in tags(cell)]
    assert all(": right" in "".join(o.get("text", "") for o in cell.outputs) for cell in checked)
