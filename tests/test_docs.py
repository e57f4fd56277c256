"""The docs cannot rot: every ```python block in docs/*.md and README.md runs, every code reference resolves.

Running the blocks
    The ```python blocks of one file run in order in one namespace, so a later block can use the names an
    earlier one defined; each file starts afresh. A block fenced as ```python no-run is skipped - for the few
    snippets that need a GPU or minutes of compute. Blocks run from the repository root with matplotlib's
    non-interactive backend, and a failure's traceback names the Markdown file and line.

Checking code references (docs/*.md only, outside code blocks)
    - `minicnn/layers/batchnorm.py` - a path whose first part is a top-level entry of the repository: it must
      be a file or folder of the repository. "Of the repository" means what git tracks, plus new files that
      git would add (not ignored) - never what happens to be on disk, so the folders that the README's commands
      create (`runs/...`, caches) are neither checked nor mistaken for part of the project.
    - `minicnn/layers/batchnorm.py::bn_backward_apply` (pytest's notation), `bn_backward_apply` in
      `minicnn/layers/batchnorm.py` (names, then "in", then a path; several names may be listed: `a`, `b` and
      `c` in `path`) and `channel_var` in the same file (the last .py path named before it): the file must
      exist and define every dotted part of each name (``def``, ``class`` or an assignment at the start of a
      line), so that a reference survives any edit except a rename or removal.
    - `minicnn.fast.batchnorm.bn_backward_apply` - a dotted name under minicnn or femur_app: the module must
      import and have the attribute.
    - [text](relative/link.md) - a relative Markdown link must point at an existing file.
Line numbers are never references: code under active optimisation moves.
"""
from __future__ import annotations

import importlib
import os
import re
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@lru_cache(maxsize=None)
def repository_files() -> frozenset[str]:
    """Every file of the repository, relative to ROOT: tracked, or untracked but not ignored by .gitignore."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, check=True).stdout.decode("utf-8")
    return frozenset(name for name in listing.split("\0") if name and (ROOT / name).exists())


@lru_cache(maxsize=None)
def repository_folders() -> frozenset[str]:
    return frozenset(str(Path(name).parents[i]) for name in repository_files()
                     for i in range(len(Path(name).parents) - 1))


def in_repository(path: str) -> bool:
    path = path.rstrip("/")
    return path in repository_files() or path in repository_folders()


def top_level() -> set[str]:
    return {name.split("/")[0] for name in repository_files() if not name.startswith(".")}

FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
NAME = re.compile(r"`([A-Za-z_][\w.]*)(?:\(\))?`")
# `a` in `path`, `a` and `b` in `path`, `a`, `b` and `c` in the same file (the last .py path named before)
NAMES_IN_PATH = re.compile(r"(?P<names>(?:`[A-Za-z_][\w.]*(?:\(\))?`,?\s+(?:and\s+|or\s+)?)*`[A-Za-z_][\w.]*(?:\(\))?`)"
                           r"\s+in\s+(?:`(?P<path>[\w./-]+\.py)`|the\s+same\s+file)")
PATH = re.compile(r"^(?P<path>[\w.-]+(?:/[\w.-]+)*/?)(?:::(?P<name>[A-Za-z_][\w.]*))?$")
DOTTED = re.compile(r"^(?:minicnn|femur_app)(?:\.[A-Za-z_]\w*)*$")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\((?P<target>[^)\s]+)\)|!\[[^\]]*\]\((?P<image>[^)\s]+)\)")


def doc_files(include_readme: bool = True) -> list[Path]:
    files = sorted(DOCS.glob("*.md"))
    return files + [ROOT / "README.md"] if include_readme else files


def split_markdown(text: str):
    """-> (code blocks as (info, first line number, source), the prose with every block blanked out)."""
    blocks, prose, lines = [], [], text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE_OPEN.match(lines[i])
        if not match:
            prose.append(lines[i])
            i += 1
            continue
        indent, fence, info = match["indent"], match["fence"], match["info"].strip()
        body, start = [], i + 2  # 1-based number of the block's first line
        i += 1
        while i < len(lines) and not re.match(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", lines[i]):
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        i += 1  # the closing fence
        blocks.append((info, start, "\n".join(body) + "\n"))
        prose.extend([""] * (len(body) + 2))
    return blocks, "\n".join(prose)


def python_blocks(path: Path):
    """The runnable blocks of one file: (first line number, source); ```python no-run blocks left out."""
    blocks, _ = split_markdown(path.read_text(encoding="utf-8"))
    return [(start, source) for info, start, source in blocks
            if info.split()[:1] == ["python"] and "no-run" not in info.split()[1:]]


RUNNABLE = [path for path in doc_files() if path.exists() and python_blocks(path)]


@pytest.mark.parametrize("path", RUNNABLE, ids=[str(p.relative_to(ROOT)) for p in RUNNABLE])
def test_python_blocks_run(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": f"docs:{path.name}"}
    for start, source in python_blocks(path):
        # padding with newlines makes a traceback's line numbers those of the Markdown file
        code = compile("\n" * (start - 1) + source, str(path.relative_to(ROOT)), "exec")
        exec(code, namespace)


# --- code references ---------------------------------------------------------------------------------------
def defines(source: str, dotted: str) -> bool:
    """Whether every part of ``dotted`` (e.g. ``SGD.step``) is defined in ``source`` (def, class or assignment)."""
    for part in dotted.split("."):
        pattern = rf"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+{re.escape(part)}\b|^[ \t]*{re.escape(part)}[ \t]*[:=]"
        if not re.search(pattern, source, re.M):
            return False
    return True


def check_file_name(path: str, name: str | None) -> str | None:
    """An error message, or None when ``path`` exists (and defines ``name``)."""
    target = ROOT / path
    if not in_repository(path):
        return f"`{path}` is not a file or folder of the repository"
    if name and not (target.is_file() and defines(target.read_text(encoding="utf-8"), name)):
        return f"`{name}` is not defined in `{path}`"
    return None


def check_dotted(dotted: str) -> str | None:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            missing = error.name or ""
            if not (module_name == missing or module_name.startswith(missing + ".")):  # a dependency is missing
                return f"`{dotted}`: importing {module_name} failed: {error}"
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return f"`{dotted}`: {'.'.join(parts[:cut])} has no attribute path {'.'.join(parts[cut:])}"
            obj = getattr(obj, attr)
        return None
    return f"`{dotted}`: no such module"


def references(path: Path):
    """Every checkable reference of one Markdown file: (line number, kind, value, name)."""
    _, prose = split_markdown(path.read_text(encoding="utf-8"))
    starts = [0] + [m.end() for m in re.finditer("\n", prose)]

    def line_of(offset):
        return next(number for number in range(len(starts), 0, -1) if starts[number - 1] <= offset)

    found, last_path = [], None
    events = sorted([(m.start(), "names", m) for m in NAMES_IN_PATH.finditer(prose)]
                    + [(m.start(), "code", m) for m in INLINE_CODE.finditer(prose)]
                    + [(m.start(), "link", m) for m in LINK.finditer(prose)], key=lambda e: e[0])
    for offset, kind, match in events:
        number = line_of(offset)
        if kind == "names":
            target = match["path"] or last_path
            if target is None:
                found.append((number, "file", "(no earlier file for 'in the same file')", None))
                continue
            for name in NAME.findall(match["names"]):
                found.append((number, "file", target, name))
        elif kind == "code":
            span = match[1].strip().removesuffix("()")
            path_match = PATH.match(span)
            if path_match and "/" in path_match["path"] and path_match["path"].split("/")[0] in top_level():
                found.append((number, "file", path_match["path"].rstrip("/"), path_match["name"]))
                if path_match["path"].endswith(".py"):
                    last_path = path_match["path"]
            elif DOTTED.match(span):
                found.append((number, "dotted", span, None))
        else:
            target = (match["target"] or match["image"]).split("#")[0]
            if target and not re.match(r"^[a-z][\w+.-]*:", target):  # not http:, mailto: ...
                found.append((number, "link", target, None))
    return found


def test_docs_have_references():
    """The checker below must see something, or a change to its patterns could silently check nothing."""
    kinds = {kind for path in doc_files(include_readme=False) for _, kind, _, _ in references(path)}
    assert {"file", "dotted", "link"} <= kinds, kinds


@pytest.mark.parametrize("path", doc_files(include_readme=False),
                         ids=[str(p.relative_to(ROOT)) for p in doc_files(include_readme=False)])
def test_code_references_exist(path):
    errors = []
    for number, kind, value, name in references(path):
        if kind == "file":
            error = check_file_name(value, name)
        elif kind == "dotted":
            error = check_dotted(value)
        else:
            target = Path(os.path.normpath(path.parent / value)).relative_to(ROOT).as_posix()
            error = None if in_repository(target) else f"link target {value} is not a file of the repository"
        if error:
            errors.append(f"{path.relative_to(ROOT)}:{number}: {error}")
    assert not errors, "\n".join(errors)


def test_runner_sees_fences_and_skips_no_run():
    text = "a\n```python\nx = 1\n```\n```python no-run\nraise SystemExit\n```\n```bash\nls\n```\n  ```python\n  y = x\n  ```\n"
    blocks, prose = split_markdown(text)
    assert [info for info, _, _ in blocks] == ["python", "python no-run", "bash", "python"]
    assert blocks[3][2] == "y = x\n" and blocks[0][1] == 3
    assert prose.splitlines()[0] == "a" and "x = 1" not in prose


def test_reference_forms(tmp_path):
    runs = ROOT / "runs"  # what `python -m femur_app.train` leaves behind: it must not become part of "the repository"
    created = not runs.exists()
    runs.mkdir(exist_ok=True)
    try:
        check_reference_forms(tmp_path)
    finally:
        if created:
            runs.rmdir()


def check_reference_forms(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("`a` in `minicnn/optim.py`, `b`, `c` and\n`d.e` in `minicnn/losses.py`; `f` in the same file.\n"
                    "`minicnn/init.py::he_std` and `minicnn.gradcheck` and [x](other.md) and `runs/x/y.json`\n"
                    "```python\n`g` in `minicnn/naive.py`\n```\n")
    assert references(page) == [  # runs/x/y.json: not a folder of the repository; the code block: not prose
        (1, "file", "minicnn/optim.py", "a"), (1, "file", "minicnn/optim.py", None),
        (1, "file", "minicnn/losses.py", "b"), (1, "file", "minicnn/losses.py", "c"),
        (1, "file", "minicnn/losses.py", "d.e"), (2, "file", "minicnn/losses.py", None),
        (2, "file", "minicnn/losses.py", "f"), (3, "file", "minicnn/init.py", "he_std"),
        (3, "dotted", "minicnn.gradcheck", None), (3, "link", "other.md", None)]


def test_reference_patterns():
    assert defines("class SGD:\n    def step(self):\n", "SGD.step")
    assert defines("@dataclass\nclass C:\n    x_hat: np.ndarray\n", "C.x_hat")
    assert not defines("# bn_backward_apply is mentioned only\n", "bn_backward_apply")
    assert check_file_name("minicnn/fast/batchnorm.py", "bn_backward_apply") is None
    assert check_file_name("minicnn/layers/batchnorm.py", "no_such_function") is not None
    assert check_file_name("minicnn/no_such_file.py", None) is not None
    assert check_file_name("minicnn/layers/", None) is None
    assert check_file_name("minicnn.egg-info", None) is not None  # on disk after `pip install -e .`, but ignored
    assert check_dotted("minicnn.fast.batchnorm.bn_backward_apply") is None
    assert check_dotted("minicnn.layers.Conv2d.backward") is None
    assert check_dotted("minicnn.layers.no_such_name") is not None
