"""Figures people look at instead of reading: before/after UMAPs, markers, convergence."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from anndata import AnnData

from ._io import atomic_path


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def before_after(adata: AnnData, batch_key: str, path: Path, cluster_key: str = "leiden") -> Path:
    """Three panels: corrected UMAP by batch, corrected by cluster, uncorrected by batch."""
    import matplotlib.pyplot as plt
    import scanpy as sc

    fig, axes = plt.subplots(1, 3, figsize=(17, 5))
    panels = [
        ("X_umap", batch_key, f"Harmony-corrected, by {batch_key}"),
        ("X_umap", cluster_key, f"Harmony-corrected, by {cluster_key} cluster"),
        ("X_umap_uncorrected", batch_key, f"uncorrected, by {batch_key}"),
    ]
    for ax, (basis, color, title) in zip(axes, panels, strict=True):
        sc.pl.embedding(adata, basis=basis, color=color, ax=ax, show=False, title=title, frameon=False)
    return _save(fig, path)


def markers_umap(adata: AnnData, path: Path, genes: Sequence[str]) -> Path | None:
    """Canonical marker genes on the corrected UMAP (over-correction shows as smeared markers)."""
    import matplotlib.pyplot as plt
    import scanpy as sc

    names = adata.raw.var_names if adata.raw is not None else adata.var_names
    present = [g for g in genes if g in names]
    if not present:
        return None
    ncols = 4
    nrows = int(np.ceil(len(present) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.8 * nrows), squeeze=False)
    for ax, gene in zip(axes.flat, present, strict=False):
        sc.pl.umap(adata, color=gene, ax=ax, show=False, frameon=False, use_raw=adata.raw is not None)
    for ax in list(axes.flat)[len(present) :]:
        ax.set_axis_off()
    fig.suptitle("canonical markers on the Harmony-corrected UMAP")
    return _save(fig, path)


def convergence(records: dict[str, dict], path: Path) -> Path:
    """Harmony's objective per iteration, one line per run (engine)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, rec in records.items():
        obj = np.asarray(rec["objective"], dtype=float)
        ax.plot(np.arange(len(obj)), obj, marker="o", label=f"{label} ({rec['n_iter']} it., converged={bool(rec['converged'])})")
    ax.set_xlabel("Harmony iteration (0 = initial clustering)")
    ax.xaxis.set_major_locator(__import__("matplotlib.ticker").ticker.MaxNLocator(integer=True))
    ax.set_ylabel("objective")
    ax.set_title("Harmony convergence")
    ax.legend(fontsize=8)
    return _save(fig, path)


def markers_dotplot(adata: AnnData, path: Path, n_genes: int = 3) -> Path:
    """Top marker genes per cluster (from ``rank_genes_groups``) as a dot plot."""
    import matplotlib.pyplot as plt
    import scanpy as sc

    groupby = adata.uns["rank_genes_groups"]["params"]["groupby"]
    if f"dendrogram_{groupby}" not in adata.uns:
        sc.tl.dendrogram(adata, groupby=groupby, use_rep="X_pca_harmony" if "X_pca_harmony" in adata.obsm else None)
    dp = sc.pl.rank_genes_groups_dotplot(adata, n_genes=n_genes, show=False, return_fig=True)
    dp.make_figure()
    fig = dp.fig
    result = _save(fig, path)
    plt.close("all")
    return result
