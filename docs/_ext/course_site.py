"""What the course website adds to Sphinx + MyST-NB, one function per idea.

read_page            every .md page reaches MyST-NB as a notebook: a lab (already executed, see execute_lab) as
                     itself, a chapter as one Markdown cell - so that labs and chapters are parsed by the same
                     MyST parser (same maths, same link checks).
execute_lab          a lab (jupytext Markdown, docs/labs/*.md) is executed when it is read, by nbclient in a fresh
                     kernel from the repository root - as tests/test_notebooks.py runs it. A cell tagged
                     ``raises-exception`` may raise (a ``check`` cell on the shipped blank: its failure is shown);
                     any other cell that raises is a warning, so the strict build fails. The executed notebook is
                     offered for download on the lab's page (lab_downloads).
navigation           the site's navigation is docs/index.md's reading order: each ``## section`` of index.md
                     becomes a caption, its links (first mention, in order) its pages.
RepositoryLinks      a link or an inline path to a file of the repository (``minicnn/plain/batchnorm.py``,
                     ``minicnn/init.py::he_std``) points at that file's page on the site (code_pages), which shows
                     the file highlighted, with numbered lines to link to.
FiguresWithCaptions  an image alone in its paragraph is a figure, its alt text the caption.
check_site           after the build, every href and src of every page must resolve to a file of the site (and an
                     #anchor to an id on that page); each one that does not is a warning.
"""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import nbformat
import yaml
from docutils import nodes
from sphinx import addnodes
from sphinx.transforms import SphinxTransform
from sphinx.util import logging

ROOT = Path(__file__).resolve().parents[2]
CODE_PAGES = "code"  # code/minicnn/plain/batchnorm.py.html shows minicnn/plain/batchnorm.py
logger = logging.getLogger(__name__)


# --- reading: chapters and labs --------------------------------------------------------------------------------
def front_matter(text: str) -> dict:
    match = re.match(r"---\n(.*?\n)---\n", text, re.S)
    if not match:
        return {}
    try:
        data = yaml.safe_load(match[1])
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def is_lab(text: str) -> bool:
    """A jupytext Markdown notebook: its front matter has jupytext's ``jupyter:`` block."""
    return "jupyter" in front_matter(text)


def read_page(text: str) -> nbformat.NotebookNode:
    """MyST-NB's reader for .md: an executed lab arrives as notebook JSON (execute_lab put it there)."""
    if text.startswith("{"):
        return nbformat.reads(text, as_version=4)
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_markdown_cell(text))
    notebook.metadata["source_map"] = source_map(text, notebook.cells)  # warnings name the page's own lines
    return notebook


def source_map(text: str, cells) -> list[int]:
    """Where each cell's source starts in the file, as MyST-NB counts (the line from 0, less 1), so that warnings
    give the file's own line numbers rather than MyST-NB's default, 10000 times the cell's number plus the line."""
    starts, position = [], 0
    for cell in cells:
        found = text.find(cell.source, position) if cell.source else -1
        found = found if found >= 0 else position
        starts.append(text.count("\n", 0, found) - 1)
        position = found + len(cell.source)
    return starts


def kernel_environment() -> dict:
    """The lab kernel's environment: this checkout first on the path, inline figures (no MPLBACKEND)."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def may_raise(cell) -> bool:
    return "raises-exception" in cell.get("metadata", {}).get("tags", [])


def execute_lab(app, docname, source):
    if not is_lab(source[0]):
        return
    import jupytext
    import nbclient

    notebook = jupytext.reads(source[0], fmt="md")
    from jupyter_client import KernelManager

    # IPC, not TCP, where the system has it: no open port, and no warning from the kernel that TCP is unencrypted
    kernel = KernelManager(kernel_name="python3", transport="ipc" if os.name == "posix" else "tcp")
    client = nbclient.NotebookClient(notebook, km=kernel, timeout=app.config.course_lab_timeout,
                                     kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    logger.info(f"executing lab {docname}")
    try:
        client.execute(env=kernel_environment())
    except nbclient.exceptions.CellExecutionError:
        pass  # reported below, cell by cell, with the page still built to show the error
    except Exception as error:  # the kernel died, a cell timed out ...
        logger.warning(f"lab could not be executed: {type(error).__name__}: {str(error).splitlines()[0]}",
                       location=docname, type="course", subtype="lab")
    finally:
        if kernel.has_kernel:  # ours to stop: nbclient stops only the kernels it started itself
            kernel.shutdown_kernel(now=True)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and not may_raise(cell):
                first_line = next((line for line in cell.source.splitlines() if line.strip()), "")
                logger.warning(f"code cell {number} of {len(code)} (`{first_line.strip()}`) raised "
                               f"{output['ename']}: {output['evalue']} - only a cell tagged raises-exception may "
                               f"raise", location=docname, type="course", subtype="lab")
    app.env.course_labs[docname] = nbformat.writes(notebook)
    for dependency in engine_files():  # a change in the code the lab runs re-executes it in an incremental build
        app.env.note_dependency(str(dependency))
    notebook.metadata["source_map"] = source_map(source[0], notebook.cells)
    source[0] = nbformat.writes(notebook)


@lru_cache(maxsize=None)
def engine_files() -> tuple[Path, ...]:
    return tuple(sorted(path for package in ("minicnn", "femur_app") for path in (ROOT / package).rglob("*.py")))


def lab_downloads(app, doctree):
    """Under a lab's title: links to the executed notebook and to its jupytext source (written by write_downloads)."""
    docname = app.env.docname
    if docname not in app.env.course_labs:
        return
    name = PurePosixPath(docname).name
    paragraph = nodes.paragraph(classes=["lab-downloads"])
    paragraph += nodes.Text("Download this lab: ")
    paragraph += nodes.reference("", "the notebook with these outputs (.ipynb)", refuri=f"{name}.ipynb")
    paragraph += nodes.Text(" or ")
    paragraph += nodes.reference("", "its source (jupytext Markdown, .md)", refuri=f"{name}.md")
    paragraph += nodes.Text(". Run it from the repository root, in Jupyter (the .md with the jupytext extension, or after ")
    paragraph += nodes.literal("", f"jupytext --to ipynb {name}.md")
    paragraph += nodes.Text(").")
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None and section.children and isinstance(section[0], nodes.title):
        section.insert(1, paragraph)
    else:
        doctree.insert(0, paragraph)


def write_downloads(app):
    for docname, notebook in app.env.course_labs.items():
        target = Path(app.outdir) / f"{docname}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(notebook, encoding="utf-8")
        source = Path(app.env.doc2path(docname))
        (Path(app.outdir) / f"{docname}.md").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")


# --- navigation: docs/index.md's reading order -------------------------------------------------------------------
MARKDOWN_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s#]+\.md)(?:#[^)\s]*)?\)")


def navigation(app, docname, source):
    if docname != app.config.root_doc:
        return
    text = source[0]
    headings = [(match.start(), match[1].strip()) for match in re.finditer(r"^## (.+)$", text, re.M)]
    sections, seen = {None: []}, {docname}
    for match in MARKDOWN_LINK.finditer(text):
        caption = next((title for start, title in reversed(headings) if start < match.start()), None)
        linked = os.path.normpath(str(PurePosixPath(docname).parent / match[1][:-3])).replace(os.sep, "/")
        if linked not in seen and not linked.startswith(".."):
            seen.add(linked)
            sections.setdefault(caption, []).append(linked)
    trees = []
    for caption, pages in sections.items():
        if pages:
            options = ":hidden:\n" + (f":caption: {caption}\n" if caption else "")
            trees.append("```{toctree}\n" + options + "\n" + "\n".join(pages) + "\n```\n")
    source[0] += "\n\n" + "\n".join(trees)


# --- links to the repository's files ---------------------------------------------------------------------------
@lru_cache(maxsize=None)
def repository_files() -> frozenset[str]:
    """Files of the repository (tracked, or new and not ignored), as tests/test_docs.py counts them."""
    try:
        listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                 cwd=ROOT, capture_output=True, check=True).stdout.decode("utf-8")
        names = [name for name in listing.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: what is on disk, caches left out
        names = [path.relative_to(ROOT).as_posix() for path in ROOT.rglob("*") if path.is_file()
                 and not any(part.startswith(".") or part in ("build", "runs", "__pycache__")
                             for part in path.relative_to(ROOT).parts)]
    return frozenset(name for name in names if (ROOT / name).is_file())


INLINE_PATH = re.compile(r"^(?P<path>[\w.-]+(?:/[\w.-]+)+)(?:::(?P<name>[A-Za-z_][\w.]*))?$")


def definition_line(path: str, dotted: str) -> int | None:
    """The line where ``dotted``'s last part is defined in ``path`` (def, class or assignment)."""
    part = re.escape(dotted.split(".")[-1])
    pattern = re.compile(rf"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+{part}\b|^[ \t]*{part}[ \t]*[:=]")
    for number, line in enumerate((ROOT / path).read_text(encoding="utf-8").splitlines(), start=1):
        if pattern.match(line):
            return number
    return None


def repository_folders() -> frozenset[str]:
    return frozenset(str(parent) for name in repository_files() for parent in PurePosixPath(name).parents
                     if str(parent) != ".")


class RepositoryLinks(SphinxTransform):
    """Links and inline paths to files and folders of the repository go to their pages on the site.

    A file outside the pages (``minicnn/plain/batchnorm.py``, ``docs/make_figures.py``) has a page of its own under
    code/ (code_pages); a folder (``minicnn/layers/``, ``labs/``) a page that lists what is in it (folder_pages).
    """

    default_priority = 400

    def apply(self, **kwargs):
        env, docname = self.env, self.env.docname
        here = Path(env.doc2path(docname)).parent
        used = env.course_code_files.setdefault(docname, set())
        for node in list(self.document.findall(addnodes.download_reference)):
            relative = repository_path(here / node["reftarget"])
            if relative in repository_files():
                used.add(relative)
                node.replace_self(self.link(node.children, CODE_PAGES + "/" + relative))
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("refdomain") or node.get("reftype") != "myst":
                continue
            relative = repository_path(here / node["reftarget"].split("#")[0])
            if relative in repository_folders():
                used.add(relative + "/")
                node.replace_self(self.link(node.children, folder_page(relative, env)))
        for node in list(self.document.findall(nodes.literal)):
            if any(isinstance(parent, (nodes.reference, addnodes.pending_xref, nodes.title))
                   for parent in ancestors(node)):
                continue
            match = INLINE_PATH.match(node.astext().strip())
            if not match:
                continue
            path = match["path"].rstrip("/")
            if path in repository_files():
                used.add(path)
                line = definition_line(path, match["name"]) if match["name"] else None
                node.replace_self(self.link([node.deepcopy()], CODE_PAGES + "/" + path, f"L-{line}" if line else ""))
            elif path in repository_folders() and not match["name"]:
                used.add(path + "/")
                node.replace_self(self.link([node.deepcopy()], folder_page(path, env)))

    def link(self, children, pagename, fragment=""):
        uri = self.app.builder.get_relative_uri(self.env.docname, pagename) + (f"#{fragment}" if fragment else "")
        return nodes.reference("", "", *[child.deepcopy() for child in children], refuri=uri,
                               classes=["repository-file"])


def repository_path(path: Path) -> str | None:
    path = Path(os.path.normpath(path))
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else None


def pages_folder(relative: str, env) -> str | None:
    """The folder of pages (relative to the source folder) that a repository folder is, if it is one."""
    folder = Path(ROOT / relative)
    if not folder.is_relative_to(Path(env.srcdir)):
        return None
    inside = folder.relative_to(Path(env.srcdir)).as_posix()
    return inside if any(name.startswith(inside + "/") for name in env.found_docs) else None


def folder_page(relative: str, env) -> str:
    inside = pages_folder(relative, env)
    return f"{inside}/index" if inside else f"{CODE_PAGES}/{relative}/index"


def ancestors(node):
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


def code_pages(app):
    """The pages of the repository's files and folders that the pages link to (RepositoryLinks)."""
    env = app.env
    used = set().union(*env.course_code_files.values())
    folders = sorted(path.rstrip("/") for path in used if path.endswith("/"))
    listed = {name for folder in folders for name in repository_files() if PurePosixPath(name).parent.as_posix() == folder}
    for path in sorted({path for path in used if not path.endswith("/")} | listed):
        yield f"{CODE_PAGES}/{path}", {"title": path, "body": code_page_body(path)}, "page.html"
    for folder in folders:
        yield folder_listing(app, folder)


def code_page_body(path: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import TextLexer, get_lexer_for_filename
    from pygments.util import ClassNotFound

    text = (ROOT / path).read_text(encoding="utf-8", errors="replace")
    try:
        lexer = get_lexer_for_filename(path, text)
    except ClassNotFound:
        lexer = TextLexer()
    formatter = HtmlFormatter(linenos="inline", lineanchors="L", anchorlinenos=True, wrapcode=True)
    return (f'<h1>{html.escape(path)}</h1>\n<p class="code-page-note">The file as it is in this build of the site; '
            f'a line number links to its line.</p>\n<div class="highlight">{highlight(text, lexer, formatter)}</div>')


def folder_listing(app, folder: str):
    """A folder's page: its pages (a folder of the site's pages) or its files (any other folder)."""
    env, inside = app.env, pages_folder(folder, app.env)
    if inside:
        pagename = f"{inside}/index"
        entries = [(docname, env.titles[docname].astext()) for docname in sorted(env.found_docs)
                   if PurePosixPath(docname).parent.as_posix() == inside]
    else:
        pagename = f"{CODE_PAGES}/{folder}/index"
        entries = [(f"{CODE_PAGES}/{name}", name) for name in sorted(repository_files())
                   if PurePosixPath(name).parent.as_posix() == folder]
    items = "".join(f'<li><a href="{html.escape(app.builder.get_relative_uri(pagename, target))}">'
                    f"{html.escape(title)}</a></li>" for target, title in entries)
    body = f"<h1>{html.escape(folder)}/</h1>\n<ul>{items}</ul>"
    return pagename, {"title": f"{folder}/", "body": body}, "page.html"


# --- figures -------------------------------------------------------------------------------------------------------
class FiguresWithCaptions(SphinxTransform):
    """``![caption](figures/x.png)`` alone in its paragraph becomes a figure with that caption."""

    default_priority = 410

    def apply(self, **kwargs):
        for paragraph in list(self.document.findall(nodes.paragraph)):
            children = [child for child in paragraph.children
                        if not (isinstance(child, nodes.Text) and not child.astext().strip())]
            if len(children) != 1 or not isinstance(children[0], nodes.image) or not children[0].get("alt"):
                continue
            if isinstance(paragraph.parent, (nodes.figure, nodes.table, nodes.entry)):
                continue
            image = children[0]
            figure = nodes.figure("", image.deepcopy(), classes=["course-figure"])
            self.document.set_id(figure)
            figure += nodes.caption(image["alt"], image["alt"])
            figure.source, figure.line = paragraph.source, paragraph.line
            paragraph.replace_self(figure)


# --- the built site: every link resolves -------------------------------------------------------------------------
class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key) and (key == "id" or tag == "a"):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) is not None and tag in ("a", "img", "link", "script", "source", "iframe"):
                self.links.append((tag, key, attrs[key]))


def read_pages(outdir: Path) -> dict[str, _Page]:
    pages = {}
    for path in sorted(outdir.rglob("*.html")):
        page = _Page()
        page.feed(path.read_text(encoding="utf-8"))
        pages[path.relative_to(outdir).as_posix()] = page
    return pages


def check_site(outdir: Path) -> list[str]:
    """Every local href/src of every page: the file exists in the site, and a #fragment is an id of that page."""
    outdir = Path(outdir)
    pages, problems = read_pages(outdir), []
    for name, page in pages.items():
        for tag, key, link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("data:", "javascript:")):
                continue
            target = (PurePosixPath(name).parent / unquote(parts.path)).as_posix() if parts.path else name
            target = os.path.normpath(target).replace(os.sep, "/")
            if parts.path.endswith("/") or (outdir / target).is_dir():
                target = f"{target.rstrip('/')}/index.html"
            if target.startswith("..") or not (outdir / target).is_file():
                problems.append(f"{name}: <{tag} {key}=\"{link}\">: no such file in the site")
            elif parts.fragment and target in pages and unquote(parts.fragment) not in pages[target].ids:
                problems.append(f"{name}: <{tag} {key}=\"{link}\">: {target} has no id {parts.fragment!r}")
    return problems


def finish(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    write_downloads(app)
    for problem in check_site(Path(app.outdir)):
        logger.warning(f"unresolved link: {problem}", type="course", subtype="link")


# --- the environment's records, kept per page for incremental builds ---------------------------------------------
def init_records(app):
    for name in ("course_labs", "course_code_files"):
        if not hasattr(app.env, name):
            setattr(app.env, name, {})


def purge(app, env, docname):
    env.course_labs.pop(docname, None)
    env.course_code_files.pop(docname, None)


def merge(app, env, docnames, other):
    for docname in docnames:
        if docname in other.course_labs:
            env.course_labs[docname] = other.course_labs[docname]
        if docname in other.course_code_files:
            env.course_code_files[docname] = other.course_code_files[docname]


def setup(app):
    app.add_config_value("course_lab_timeout", 300, "env")
    app.connect("builder-inited", init_records)
    app.connect("env-purge-doc", purge)
    app.connect("env-merge-info", merge)
    app.connect("source-read", execute_lab)
    app.connect("source-read", navigation)
    app.add_transform(RepositoryLinks)
    app.add_transform(FiguresWithCaptions)
    app.connect("doctree-read", lab_downloads)
    app.connect("html-collect-pages", code_pages)
    app.connect("build-finished", finish)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
