"""Figures people look at instead of reading: before/after UMAPs, markers, convergence, R vs Python.

Shared by the demo (files) and the cross-check report (embedded PNGs)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from harmonybridge import _metrics
from harmonybridge._io import atomic_path


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


def convergence_figure(
    records: dict[str, dict], *, title: str = "Harmony convergence", figsize: tuple[float, float] = (5.5, 4)
) -> Any:
    """Harmony's objective per iteration, one line per run; a run's label gets its iterations and
    convergence when its record has them (``n_iter``, ``converged``)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=figsize)
    for label, rec in records.items():
        obj = np.asarray(rec["objective"], dtype=float)
        if "n_iter" in rec:
            label = f"{label} ({rec['n_iter']} it., converged={bool(rec['converged'])})"
        ax.plot(np.arange(len(obj)), obj, marker="o", label=label)
    ax.set_xlabel("Harmony iteration (0 = initial clustering)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("objective")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def convergence(records: dict[str, dict], path: Path) -> Path:
    """:func:`convergence_figure` of ``uns['harmony']`` records, saved to ``path``."""
    return _save(convergence_figure(records), path)


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


def png(fig: Any) -> str:
    """A figure as base64 PNG (for a self-contained HTML page); the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _scatter_by(ax: Any, xy: np.ndarray, labels: pd.Series, title: str) -> None:
    import matplotlib

    cats = pd.Categorical(labels)
    n_cats = len(cats.categories)
    cmap, n_colors = (matplotlib.colormaps["tab10"], 10) if n_cats <= 10 else (matplotlib.colormaps["tab20"], 20)
    order = np.random.default_rng(0).permutation(len(xy))
    colors = np.array([cmap(i % n_colors) for i in range(n_cats)])
    ax.scatter(
        xy[order, 0], xy[order, 1], c=colors[cats.codes[order]], s=max(0.5, min(8, 20000 / len(xy))), linewidths=0
    )
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if len(cats.categories) <= 20:
        for i, c in enumerate(cats.categories):
            ax.scatter([], [], color=colors[i], label=str(c), s=15)
        ax.legend(fontsize=7, markerscale=1, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)


def engine_umaps(
    umaps: dict[str, np.ndarray], color_by: list[tuple[str, pd.Series]], labels: dict[str, str] | None = None
) -> Any:
    """UMAPs of each engine's embedding side by side (Python and R by default), one row per colouring."""
    import matplotlib.pyplot as plt

    labels = labels or {"python": "Python (harmonypy)", "r": "R (harmony)"}
    engines = list(umaps)
    fig, axes = plt.subplots(
        len(color_by), len(engines), figsize=(5.5 * len(engines), 4.3 * len(color_by)), squeeze=False
    )
    for row, (what, values) in enumerate(color_by):
        for col, engine in enumerate(engines):
            name = labels.get(engine, engine)
            _scatter_by(axes[row, col], umaps[engine], values, f"{name}: UMAP by {values.name or what}")
    fig.tight_layout()
    return fig


def per_pc_scatter(A: np.ndarray, B: np.ndarray, names: tuple[str, str] = ("Python", "R")) -> Any:
    """The first PCs of two embeddings (Python, R by default) against each other, and the per-PC Pearson r."""
    import matplotlib.pyplot as plt

    r = _metrics.per_pc_pearson(A, B)
    n_show = min(4, A.shape[1])
    fig, axes = plt.subplots(1, n_show + 1, figsize=(3.3 * (n_show + 1), 3.2))
    rng = np.random.default_rng(0)
    sample = rng.choice(A.shape[0], size=min(A.shape[0], 5000), replace=False)
    for i in range(n_show):
        ax = axes[i]
        ax.scatter(A[sample, i], B[sample, i], s=2, alpha=0.5, linewidths=0)
        lo, hi = min(A[:, i].min(), B[:, i].min()), max(A[:, i].max(), B[:, i].max())
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
        ax.set_title(f"PC{i + 1}: r = {r[i]:.4f}", fontsize=9)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
    axes[-1].bar(np.arange(1, len(r) + 1), r, color="tab:blue")
    axes[-1].set_ylim(min(0.9, r.min() - 0.01), 1.0)
    axes[-1].set_title(f"per-PC r, {names[1]} vs {names[0]}", fontsize=9)
    axes[-1].set_xlabel("PC")
    fig.tight_layout()
    return fig
