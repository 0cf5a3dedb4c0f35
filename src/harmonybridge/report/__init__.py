"""Figures and HTML, shared by the demo (figure files) and the cross-check (a self-contained page)."""

from ._figures import before_after, convergence, convergence_figure, markers_dotplot, markers_umap
from ._html import crosscheck_html, text_table

__all__ = [
    "before_after",
    "convergence",
    "convergence_figure",
    "crosscheck_html",
    "markers_dotplot",
    "markers_umap",
    "text_table",
]
