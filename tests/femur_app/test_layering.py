"""femur_app's imports run one way (docs/architecture.md): read from the source (every ``import`` statement,
wherever it stands), never from a module's behaviour, so that a function-level import cannot hide an arrow.

    errors, memory, cli  ->  data  ->  models  ->  config | evaluation  ->  reporting  ->  training  ->  the commands

A module imports only modules of its own package or of a package to its left ("config | evaluation": neither
imports the other; a command may use another's option helpers, as explain uses predict's); no module imports
femur_app inside a function; the modules form no circle; and minicnn never imports femur_app.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RANK = {"errors": 0, "memory": 0.25, "cli": 0.5, "data": 1, "models": 2, "config": 3, "evaluation": 3, "reporting": 4, "training": 5}
COMMANDS = {"train", "compare", "predict", "explain", "synth", "preview", "import_btxrd", "report"}  # python -m femur_app.X
COMMAND_RANK = 6


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported femur_app or minicnn module, line, inside a function?) for every import statement of ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    in_function = {id(node) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for node in ast.walk(f)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [f"{node.module}.{alias.name}" for alias in node.names]  # a submodule, or a name in module
            names = [m if (ROOT / Path(*m.split("."))).with_suffix(".py").exists()
                     or (ROOT / Path(*m.split("."))).is_dir() else node.module for m in modules]
        else:
            continue
        found += [(name, node.lineno, id(node) in in_function) for name in dict.fromkeys(names)
                  if name.split(".")[0] in ("femur_app", "minicnn")]
    return found


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "femur_app"


def rank(module: str) -> float:
    return COMMAND_RANK if package_of(module) in COMMANDS else RANK[package_of(module)]


FEMUR_MODULES = {module_name(p): p for p in sorted((ROOT / "femur_app").rglob("*.py"))}


def test_every_package_and_module_has_its_place():
    """A new subpackage or top-level module must be given its place in the layers (RANK or COMMANDS above)."""
    placed = {package_of(m) for m in FEMUR_MODULES if m != "femur_app"}
    assert {"data", "models", "evaluation", "reporting", "training", "train"} <= placed
    assert placed <= set(RANK) | COMMANDS, f"no place in the layers: {sorted(placed - set(RANK) - COMMANDS)}"


@pytest.mark.parametrize("module", sorted(m for m in FEMUR_MODULES if package_of(m) in set(RANK) | COMMANDS))
def test_imports_run_one_way(module):
    wrong = []
    for target, line, inside in imports(FEMUR_MODULES[module]):
        if not target.startswith("femur_app"):
            continue
        if inside:
            wrong.append(f"line {line}: imports {target} inside a function")
        same_package = package_of(target) == package_of(module) and package_of(module) != "femur_app"
        commands = rank(module) == rank(target) == COMMAND_RANK
        if target != "femur_app" and not (same_package or commands) and rank(target) >= rank(module):
            wrong.append(f"line {line}: {package_of(module)} imports {target} ({package_of(target)} is not below it)")
    assert not wrong, f"{module}: " + "; ".join(wrong)


def test_no_circle():
    graph = {m: {t for t, _, _ in imports(p) if t in FEMUR_MODULES and t != m} for m, p in FEMUR_MODULES.items()}
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_minicnn_never_imports_femur_app():
    found = [f"{p.relative_to(ROOT)}:{line}" for p in (ROOT / "minicnn").rglob("*.py")
             for target, line, _ in imports(p) if target.startswith("femur_app")]
    assert not found, found
