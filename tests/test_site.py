"""The course website (docs/conf.py, docs/_ext/course_site.py): it builds in strict mode, and the strictness bites.

The real site is built once (about a minute: the labs run), then read back: every chapter, lab and figure is there,
the maths is typeset, the labs carry their outputs, the links to source files lead to those files, the API page
holds every op of minicnn.plain, search knows "running statistics", and no link is left unresolved. Small sites
of our own, built with the same configuration, show that the build fails on a planted broken link, missing figure,
orphan page or a lab cell that raises - and that it does not fail on a lab's check cell that fails on its blank.
"""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# the site's tools come with the test extra (pyproject.toml: test includes docs); without them the tests skip,
# unless MINICNN_REQUIRE_SITE=1 (set by .ci/run), where a missing tool fails
for _module in ("sphinx", "myst_nb", "furo", "jupytext", "nbclient"):
    if os.environ.get("MINICNN_REQUIRE_SITE") == "1":
        __import__(_module)
    pytest.importorskip(_module)

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))
import course_site  # noqa: E402

CHAPTERS = sorted(DOCS.glob("*.md"))
LABS = sorted((DOCS / "labs").glob("*.md"))
IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)")


def build(source: Path, out: Path) -> subprocess.CompletedProcess:
    """The README's build command, with docs/conf.py, on any source folder; -E: nothing reused from an earlier run."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-c", str(DOCS), str(source),
                           str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "html"
    result = build(DOCS, out)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    return out, log


def page(site_dir: Path, name: str) -> str:
    return (site_dir / name).read_text(encoding="utf-8")


# --- the real site ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_builds_strict_without_a_warning(site):
    _, log = site
    assert "WARNING" not in log and "warning:" not in log.lower(), log[-3000:]


@pytest.mark.slow
def test_every_chapter_and_lab_is_a_page(site):
    out, _ = site
    for chapter in CHAPTERS:
        assert (out / f"{chapter.stem}.html").is_file(), chapter.name
    assert len(LABS) >= 3
    for lab in LABS:
        assert (out / "labs" / f"{lab.stem}.html").is_file(), lab.name
        notebook = json.loads(page(out, f"labs/{lab.stem}.ipynb"))           # the download: executed
        code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        assert code and all(cell["execution_count"] for cell in code), lab.name
        assert page(out, f"labs/{lab.stem}.md") == lab.read_text(encoding="utf-8")
        text = page(out, f"labs/{lab.stem}.html")
        assert f'href="{lab.stem}.ipynb"' in text and f'href="{lab.stem}.md"' in text


@pytest.mark.slow
def test_no_link_is_unresolved(site):
    out, _ = site
    assert course_site.check_site(out) == []


@pytest.mark.slow
def test_every_figure_is_shown_with_its_caption(site):
    out, _ = site
    shown = 0
    for chapter in CHAPTERS:
        text = page(out, f"{chapter.stem}.html")
        figures = re.findall(r"<figure[^>]*>(.*?)</figure>", text, re.S)
        for match in IMAGE.finditer(chapter.read_text(encoding="utf-8")):
            name = Path(match["src"]).name
            holding = [f for f in figures if re.search(rf'<img[^>]+src="[^"]*/{re.escape(name)}"', f)]
            assert holding, f"{chapter.name}: {name} is not in a figure"
            caption = re.search(r"<figcaption>(.*?)</figcaption>", holding[0], re.S)
            shown_caption = html.unescape(re.sub(r"<[^>]+>", "", caption[1])).replace("\u2019", "'") if caption else ""
            assert match["alt"] in shown_caption, name
            src = re.search(r'<img[^>]+src="([^"]+)"', holding[0])[1]
            assert (out / src).is_file() and (out / src).stat().st_size > 1000, src
            shown += 1
    assert shown >= 8


@pytest.mark.slow
def test_maths_is_typeset(site):
    out, _ = site
    assert (out / "_static" / "mathjax" / "tex-chtml.js").is_file()
    batchnorm = page(out, "batchnorm.html")
    assert 'src="_static/mathjax/tex-chtml.js' in batchnorm
    for tex in (r"\mu = \frac{1}{m} \sum_{i=1}^{m} x_i", r"\sigma^2 = \frac{1}{m} \sum_{i=1}^{m} (x_i - \mu)^2",
                r"\hat{x}_i = \dfrac{x_i - \mu}{\sqrt{\sigma^2 + \varepsilon}}", r"y_i = \gamma \hat{x}_i + \beta",
                r"\gamma = \sqrt{\mathrm{Var}[x]}", r"\beta = \mathrm{E}[x]"):          # equations (3)-(8)
        assert f'<span class="math notranslate nohighlight">\\({html.escape(tex, quote=False)}\\)</span>' in batchnorm, tex
    for name, least in (("batchnorm.html", 100), ("backprop.html", 5), ("convolution.html", 20)):
        assert page(out, name).count('class="math notranslate nohighlight"') >= least, name
    assert batchnorm.count('<div class="math notranslate nohighlight">') >= 8       # the derivation's displays


@pytest.mark.slow
def test_labs_show_their_outputs_and_figures(site):
    out, _ = site
    images = 0
    for lab in LABS:
        text = page(out, f"labs/{lab.stem}.html")
        assert text.count('class="cell_output') >= 1, lab.name
        for output in re.findall(r'<div class="cell_output[^"]*"[^>]*>(.*?)</div>\s*</div>', text, re.S):
            images += len(re.findall(r'<img[^>]+src="([^"]+)"', output))
    assert images >= 1
    assert all((out / "labs" / src).is_file() for lab in LABS
               for src in re.findall(r'<img[^>]+src="([^"]+)"', page(out, f"labs/{lab.stem}.html")))


@pytest.mark.slow
def test_chapters_link_to_their_exercises_labs_and_code(site):
    out, _ = site
    for chapter, lab in (("backprop", "backprop_by_hand"), ("batchnorm", "batchnorm_lab"), ("convolution", None)):
        text = page(out, f"{chapter}.html")
        assert 'href="exercises.html"' in text, chapter
        if lab:
            assert f'href="labs/{lab}.html"' in text, chapter
    batchnorm = page(out, "batchnorm.html")
    assert 'href="code/minicnn/plain/batchnorm.py.html"' in batchnorm
    source = html.unescape(re.sub(r"<[^>]+>", "", page(out, "code/minicnn/plain/batchnorm.py.html")))
    assert "def batchnorm_forward(x, gamma, beta, eps=1e-5):" in source
    line = course_site.definition_line("minicnn/plain/batchnorm.py", "batchnorm_forward")
    assert f'id="L-{line}"' in page(out, "code/minicnn/plain/batchnorm.py.html")


@pytest.mark.slow
def test_api_page_has_every_plain_op_with_its_docstring(site):
    import importlib

    from minicnn import plain
    out, _ = site
    text = page(out, "api.html")
    def words(markup):  # the words alone: reST's ``code`` and *emphasis* marks, and the HTML they become, left out
        return " ".join(re.sub(r"[^\w]+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup))).split())
    for name in plain.OPS:
        function = getattr(plain, name)
        assert f'id="{function.__module__}.{name}"' in text, name
    for module in {getattr(plain, name).__module__ for name in plain.OPS}:
        doc = importlib.import_module(module).__doc__
        first = next(line for line in doc.splitlines() if line.strip())
        assert words(first) in words(text), module
    maths = [line for line in importlib.import_module("minicnn.plain.batchnorm").__doc__.splitlines() if "(4)" in line]
    assert maths and all(words(line) in words(text) for line in maths)


@pytest.mark.slow
def test_search_finds_running_statistics(site):
    out, _ = site
    index = json.loads(re.fullmatch(r"Search\.setIndex\((.*)\)\s*", page(out, "searchindex.js"), re.S)[1])

    def documents(term):  # Sphinx files a word of a page's headings under titleterms, the rest under terms
        found = set()
        for kind in ("terms", "titleterms"):
            where = index[kind].get(term, [])
            found |= {where} if isinstance(where, int) else set(where)
        return found

    both = {index["docnames"][k] for k in documents("run") & documents("statist")}   # Sphinx stems the words
    assert {"batchnorm", "bn_dynamics"} <= both


@pytest.mark.slow
def test_navigation_follows_the_reading_order_of_index(site):
    out, _ = site
    expected = []
    for target in course_site.MARKDOWN_LINK.findall((DOCS / "index.md").read_text(encoding="utf-8")):
        if target[:-3] not in expected:
            expected.append(target[:-3])
    tree = page(out, "index.html").split('class="sidebar-tree"', 1)[1].split("</nav>", 1)[0]
    shown = [href for href in re.findall(r'<a class="reference internal" href="([^"#]+)\.html"', tree)
             if href != "index"]
    assert shown[: len(expected)] == expected
    assert set(path.stem for path in CHAPTERS) - {"index"} <= set(shown)


# --- the strict build fails on what it must fail on (small sites of our own) -----------------------------------
LAB_HEADER = """---
jupyter:
  jupytext:
    text_representation:
      extension: .md
      format_name: markdown
  kernelspec:
    display_name: Python 3
    language: python
    name: python3
---
"""
BLANK_LAB = LAB_HEADER + """
# A lab with a blank

```python tags=["blank"]
def double(x):
    raise NotImplementedError("double: your code goes here")
```

```python tags=["check", "raises-exception"]
assert double(21) == 42, "double(21) should be 42"
```

```python
print("the cells after the check still run")
```
"""
RAISING_LAB = LAB_HEADER + """
# A lab that is broken

```python
ratio = 1 / 0
```

```python
print("never reached")
```
"""


def small_site(folder: Path, pages: dict[str, str]) -> Path:
    folder.mkdir()
    links = "".join(f"- [{name}]({name})\n" for name in pages if name != "orphan.md")
    (folder / "index.md").write_text(f"# A small site\n\n## Pages\n\n{links}", encoding="utf-8")
    for name, text in pages.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_blank_and_check_cells_build_and_show(tmp_path):
    """The learners' convention: the check's failure on the shipped blank is shown, and the build passes."""
    source = small_site(tmp_path / "src", {"chapter.md": "# A chapter\n\nSee [the lab](labs/lab.md), $a^2 + b^2$ and "
                                                         "`minicnn/init.py::he_std`.\n", "labs/lab.md": BLANK_LAB})
    result = build(source, tmp_path / "out")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    line = course_site.definition_line("minicnn/init.py", "he_std")              # an inline path::name: a link to
    chapter = (tmp_path / "out" / "chapter.html").read_text(encoding="utf-8")     # the line of that file's page
    assert line and f'href="code/minicnn/init.py.html#L-{line}"' in chapter
    assert f'id="L-{line}"' in (tmp_path / "out" / "code" / "minicnn" / "init.py.html").read_text(encoding="utf-8")
    text = (tmp_path / "out" / "labs" / "lab.html").read_text(encoding="utf-8")
    assert re.search(r'class="cell tag_blank[^"]*"', text) and re.search(r'class="cell tag_check[^"]*"', text)
    assert "NotImplementedError" in text and "double: your code goes here" in text
    assert "the cells after the check still run" in text
    notebook = json.loads((tmp_path / "out" / "labs" / "lab.ipynb").read_text(encoding="utf-8"))
    assert [output["ename"] for cell in notebook["cells"] for output in cell.get("outputs", [])
            if output["output_type"] == "error"] == ["NotImplementedError"]


def test_a_lab_cell_that_raises_fails_the_build(tmp_path):
    source = small_site(tmp_path / "src", {"labs/lab.md": RAISING_LAB})
    result = build(source, tmp_path / "out")
    log = result.stdout + result.stderr
    assert result.returncode != 0
    assert re.search(r"labs/lab\.md: WARNING: code cell 1 of 2 \(`ratio = 1 / 0`\) raised ZeroDivisionError: "
                     r"division by zero - only a cell tagged raises-exception may raise", log), log[-3000:]


PLANTS = {  # what is planted in one page of a small site -> what the build must say about it
    "See [a page that is not there](no_such_page.md).": r"page\.md:\d+: WARNING: .*no_such_page",
    "![a figure that is not there](figures/no_such_figure.png)": r"WARNING: image file not readable: figures/no_such_figure\.png",
    '<a href="nowhere.html">a raw link</a>': r'WARNING: unresolved link: page\.html: <a href="nowhere\.html">: no such file',
    "See [a heading that is not there](other.md#no-such-heading).": r"page\.md:\d+: WARNING: .*no-such-heading",
}


def test_planted_broken_links_and_an_orphan_page_fail_the_build(tmp_path):
    """One build, all plants at once (--keep-going reports each); a control page shows the site is otherwise fine."""
    plants = "\n\n".join(PLANTS)
    source = small_site(tmp_path / "src", {"page.md": f"# A page\n\nFine so far.\n\n{plants}\n",
                                           "other.md": "# Another page\n\n## A heading\n",
                                           "orphan.md": "# Nobody links here\n"})
    result = build(source, tmp_path / "out")
    log = result.stdout + result.stderr
    assert result.returncode != 0
    for plant, expected in PLANTS.items():
        assert re.search(expected, log), f"{plant}\n{log[-3000:]}"
    assert "orphan.md: WARNING: document isn't included in any toctree" in log
    planted = ("no_such_page", "no_such_figure", "nowhere", "no-such-heading", "orphan")
    assert all(any(name in line for name in planted) for line in log.splitlines() if "WARNING" in line)
    assert re.search(r"page\.md:11: WARNING: local id not found in doc 'other': 'no-such-heading'", log)  # its line


# --- the pieces, without a build -------------------------------------------------------------------------------
def test_check_site_finds_missing_files_and_anchors(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.html").write_text('<p id="here"></p><a href="sub/b.html#there">ok</a><a href="#here">ok</a>'
                                     '<a href="https://example.org/x">external</a><img src="missing.png">'
                                     '<a href="sub/b.html#gone">bad anchor</a>', encoding="utf-8")
    (tmp_path / "sub" / "b.html").write_text('<h1 id="there"></h1><a href="../a.html">up</a>'
                                             '<a href="../../outside.html">out</a>', encoding="utf-8")
    assert course_site.check_site(tmp_path) == [
        'a.html: <img src="missing.png">: no such file in the site',
        "a.html: <a href=\"sub/b.html#gone\">: sub/b.html has no id 'gone'",
        'sub/b.html: <a href="../../outside.html">: no such file in the site']


def test_reading_order_becomes_the_navigation():
    class App:
        class config:
            root_doc = "index"
    source = ["# Home\n\n1. [one](one.md) and [two](two.md#part)\n\n## Doing\n\n- [a\nlab](labs/lab.md), "
              "[one again](one.md), ![fig](figures/x.png), [out](../README.md)\n"]
    course_site.navigation(App, "index", source)
    trees = re.findall(r"```\{toctree\}\n(.*?)```", source[0], re.S)
    assert trees == [":hidden:\n\none\ntwo\n", ":hidden:\n:caption: Doing\n\nlabs/lab\n"]


def test_pages_are_read_as_notebooks():
    chapter = course_site.read_page("# A chapter\n\ntext\n")
    assert [cell.cell_type for cell in chapter.cells] == ["markdown"] and chapter.cells[0].source.startswith("# A")
    assert course_site.is_lab(LAB_HEADER + "# x\n") and not course_site.is_lab("---\ntitle: x\n---\n# x\n")
    assert all(course_site.is_lab(lab.read_text(encoding="utf-8")) for lab in LABS)
    assert not any(course_site.is_lab(chapter.read_text(encoding="utf-8")) for chapter in CHAPTERS)
