"""Sphinx configuration of the airflow-provider-kaleyra documentation site."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Autodoc imports the package, which imports Airflow: never a reader's own AIRFLOW_HOME.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="kaleyra-docs-airflow-home-"))

import airflow_provider_kaleyra  # noqa: E402
from airflow_provider_kaleyra import __version__  # noqa: E402

project = "airflow-provider-kaleyra"
author = "airflow-provider-kaleyra maintainers"
copyright = "airflow-provider-kaleyra maintainers; Apache License 2.0"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "snippets"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# Package __init__ modules re-export names through __all__; document each where it is defined.
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Type hints name Airflow and third-party classes this site does not document.
nitpicky = False

html_theme = "alabaster"
html_title = f"airflow-provider-kaleyra {release}"


def write_api_pages() -> None:
    """One automodule page per module of the package, found by walking it (renames need no edit here)."""
    import pkgutil

    pages = Path(__file__).resolve().parent / "_api"
    pages.mkdir(exist_ok=True)
    found = pkgutil.walk_packages(airflow_provider_kaleyra.__path__, "airflow_provider_kaleyra.")
    names = ["airflow_provider_kaleyra", *sorted(m.name for m in found if not m.name.endswith(".__main__"))]
    for stale in pages.glob("*.rst"):
        if stale.stem not in names:
            stale.unlink()
    for name in names:
        text = f"{name}\n{'=' * len(name)}\n\n.. automodule:: {name}\n"
        page = pages / f"{name}.rst"
        if not page.exists() or page.read_text() != text:
            page.write_text(text)


write_api_pages()
