"""The course website: Sphinx + MyST (Markdown, maths) + MyST-NB (the labs as executed notebooks).

    pip install -e ".[docs]"
    sphinx-build -W --keep-going docs build/site        # strict: any warning (broken link, missing page or
                                                        # figure, a lab cell that raises) fails the build
    python -m http.server --directory build/site 8000   # then open http://localhost:8000

What is ours, beyond stock Sphinx, is in docs/_ext/course_site.py (why each piece exists is said there).
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "docs" / "_ext")]   # autodoc imports this checkout's minicnn

project = "minicnn"
html_title = "minicnn: backpropagation and batch normalisation by hand"
author = "the minicnn authors"
copyright = "the minicnn authors"

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax", "course_site"]
root_doc = "index"
exclude_patterns = ["_build", "_ext", "_static"]
templates_path = []
suppress_warnings = []  # none: the build is strict, and nothing is hidden from it

# Markdown: $...$ and $$...$$ are maths, \begin{aligned} blocks too; headings get anchors for [x](page.md#anchor)
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True
myst_heading_anchors = 3

# Notebooks: every .md page is read by course_site.read_page - a lab (jupytext Markdown, executed by course_site
# from the repository root, as tests/test_notebooks.py runs it) or a chapter (one Markdown cell). MyST-NB renders
# both; it executes nothing itself.
nb_custom_formats = {".md": ["course_site.read_page", {}, False]}
nb_execution_mode = "off"
nb_merge_streams = True
course_lab_timeout = 300  # seconds per cell

# Maths: MathJax 3.2.2, shipped in docs/_static/mathjax/ (tex-chtml.js and its fonts), so that the site works offline
mathjax_path = "mathjax/tex-chtml.js"

# The API page: docstrings as written, members in the order of the source
autodoc_member_order = "bysource"
autodoc_typehints = "none"

html_theme = "furo"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_copy_source = False       # the Markdown sources are linked from each lab page instead
html_show_sourcelink = False
html_last_updated_fmt = None
pygments_style = "default"

