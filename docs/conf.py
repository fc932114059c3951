"""
Sphinx configuration for txws's documentation site.

    pip install -e '.[docs]'
    sphinx-build -W --keep-going docs docs/_build/html

Pages are Markdown (MyST); the API reference is built by pydoctor from the
epytext docstrings, as Twisted's is, into api/ of the site.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from txws._version import __version__  # noqa: E402

project = "txws"
author = "The txws developers"
copyright = "the txws developers"
release = version = __version__

extensions = ["myst_parser", "sphinx.ext.intersphinx", "pydoctor.sphinx_ext.build_apidocs"]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"txws {release}"
html_static_path: list[str] = []

# No network at build time: no external inventories.
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}

# The API reference: pydoctor's HTML, written over the placeholder api/index.
pydoctor_args = [
    "--project-name=txws",
    f"--project-version={release}",
    "--docformat=epytext",
    f"--project-base-dir={ROOT}",
    "--html-output={outdir}/api",
    "--privacy=HIDDEN:txws.**._*",
    "--privacy=HIDDEN:txws._*",
    str(ROOT / "txws"),
]
pydoctor_url_path = "api/"
