"""Figures and HTML, shared by the demo (figure files) and the cross-check (a self-contained page)."""

from ._figures import (
    clusters_vs_labels,
    convergence,
    convergence_figure,
    lisi_boxes,
    markers_dotplot,
    markers_umap,
    umap_grid,
    umap_panels,
)
from ._html import crosscheck_html, engine_override_warnings, overrides_text, text_table

__all__ = [
    "clusters_vs_labels",
    "convergence",
    "convergence_figure",
    "crosscheck_html",
    "engine_override_warnings",
    "lisi_boxes",
    "markers_dotplot",
    "markers_umap",
    "overrides_text",
    "text_table",
    "umap_grid",
    "umap_panels",
]
