"""No import circle and no upward import in minicnn: every module imports alone in a fresh interpreter, every
import statement (at the top or inside a function) points to the same floor or a lower one, and the kernels pull
in no tier, no layer and nothing that checks them (the fast tier imports the launchers, never the other way round).
"""
import ast
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
    for name in ("minicnn.plain.batchnorm", "minicnn.fast.conv", "minicnn.kernel_checks.registry",
                 "minicnn.layers.conv", "minicnn.tiers", "minicnn.selfcheck"):
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
                   "loaded = sorted(m for m in sys.modules if m.startswith(('minicnn.layers', 'minicnn.kernel_checks',"
                   " 'cupy')))\n"
                   "print(loaded)")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


# --- the direction of every import, read from the source ---------------------------------------------------------
# minicnn's floors, lowest first: a module imports from its own floor or from one below, never from one above.
FLOORS = [
    ("minicnn.backend", "minicnn.serialize", "minicnn._geometry", "minicnn.init", "minicnn.naive"),  # arrays, files
    ("minicnn.kernels",),  # CUDA kernels and their launchers
    ("minicnn.plain",),  # the algorithms
    ("minicnn.fast",),  # the same made fast: plain's caches, the launchers
    ("minicnn.tiers",),  # which tier the layers call
    ("minicnn.layers", "minicnn.losses", "minicnn.optim", "minicnn.step", "minicnn.gradcheck"),  # the engine
    ("minicnn.kernel_checks", "minicnn.selfcheck", "minicnn.exercises"),  # what checks the engine, what teaches it
    ("minicnn",),  # the package itself, which gathers the engine's front names
]


def floor_of(module: str) -> int:
    """The index in FLOORS of the longest prefix naming ``module`` (``minicnn.fast.conv`` -> ``minicnn.fast``)."""
    matches = [(len(prefix), index) for index, names in enumerate(FLOORS) for prefix in names
               if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} is on no floor: add it to FLOORS"
    return max(matches)[1]


def import_edges(package_root: Path, package: str, modules) -> dict[str, set[str]]:
    """``{module: the package's modules it imports}``, from every import statement in its file, those inside
    functions included. ``from a import b`` points to the module ``a.b`` where there is one, else to ``a``."""
    modules = set(modules) | {package}
    edges = {}
    for module in modules:
        parts = module.split(".")[1:]
        path = package_root.joinpath(*parts)
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's own package upwards
                    anchor = module.split(".")[: len(module.split(".")) - node.level + (path.name == "__init__.py")]
                    base = ".".join(anchor + ([base] if base else []))
                targets |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                            for alias in node.names}
        edges[module] = {t for t in targets if t in modules} - {module}
    return edges


def upward_imports(edges) -> list[str]:
    return sorted(f"{a} -> {b}" for a, targets in edges.items() for b in targets if floor_of(b) > floor_of(a))


def circles(edges) -> list[list[str]]:
    """Every import circle, as the list of modules around it (depth-first search)."""
    found, state = [], {}  # state: 1 on the current path, 2 done

    def visit(module, path):
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                found.append(path[path.index(target):] + [target])
            elif state.get(target) is None:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    return found


EDGES = import_edges(ROOT / "minicnn", "minicnn", MODULES)


def test_no_import_points_upwards():
    assert upward_imports(EDGES) == []


def test_no_import_circle():
    assert circles(EDGES) == []


def test_the_kernels_import_no_tier_no_layer_and_nothing_that_checks_them():
    kernels = {m: t for m, t in EDGES.items() if m == "minicnn.kernels" or m.startswith("minicnn.kernels.")}
    assert len(kernels) >= 9 and "minicnn.kernels" in EDGES["minicnn.fast.conv"]  # the fast tier imports them
    reached = set().union(*kernels.values()) - set(kernels)
    assert reached <= {"minicnn.backend", "minicnn.serialize"}, reached
    assert "minicnn.kernel_checks.registry" in EDGES["minicnn.selfcheck"]
    assert not any(t.startswith("minicnn.kernel_checks") for m, targets in EDGES.items()
                   if floor_of(m) < floor_of("minicnn.kernel_checks") for t in targets)


def test_the_import_checks_can_fail(tmp_path):
    """A kernel that imports the fast tier inside a function, and a circle between two layers' modules."""
    for name, text in {"pkg/__init__.py": "", "pkg/kernels/__init__.py": "",
                       "pkg/kernels/conv.py": "def launch():\n    from pkg.fast import conv\n",
                       "pkg/fast/__init__.py": "", "pkg/fast/conv.py": "from pkg import kernels\n",
                       "pkg/layers/__init__.py": "", "pkg/layers/a.py": "from pkg.layers.b import B\n",
                       "pkg/layers/b.py": "from .a import A\n"}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    modules = ["pkg.kernels", "pkg.kernels.conv", "pkg.fast", "pkg.fast.conv", "pkg.layers", "pkg.layers.a",
               "pkg.layers.b"]
    edges = import_edges(tmp_path / "pkg", "pkg", modules)
    assert edges["pkg.kernels.conv"] == {"pkg.fast.conv"} and edges["pkg.fast.conv"] == {"pkg.kernels"}
    renamed = {a.replace("pkg", "minicnn"): {b.replace("pkg", "minicnn") for b in t} for a, t in edges.items()}
    assert upward_imports(renamed) == ["minicnn.kernels.conv -> minicnn.fast.conv"]
    assert circles(edges) == [["pkg.layers.a", "pkg.layers.b", "pkg.layers.a"]]
