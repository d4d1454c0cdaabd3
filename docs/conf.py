"""Sphinx configuration: the sb3_maxent documentation site (MyST pages, API reference from the docstrings)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

project = "sb3_maxent"
author = "the sb3_maxent contributors"
copyright = "2026, the sb3_maxent contributors"
release = (ROOT / "sb3_maxent" / "version.txt").read_text().strip()
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# the pages are MyST markdown: $...$ and $$...$$ maths, (label)= targets, ::: fences
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# docstrings are written as SB3 writes them: reST field lists (:param x:, :return:)
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "sphinx_rtd_theme"
html_title = f"sb3_maxent {release}"

# wide results tables scroll horizontally and their cells wrap (docs/_static/custom.css)
html_static_path = ["_static"]
html_css_files = ["custom.css"]
