"""Sphinx configuration for litestar-alchemy-kit."""

project = "litestar-alchemy-kit"
copyright = "2026, the litestar-alchemy-kit developers"
author = "the litestar-alchemy-kit developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.intersphinx", "sphinx.ext.viewcode"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
nitpicky = False
html_theme = "alabaster"
exclude_patterns = ["_build"]
