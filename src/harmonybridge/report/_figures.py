"""Figures people look at instead of reading: before/after UMAPs, markers, convergence, R vs Python.

Shared by the demo (files) and the cross-check report (embedded PNGs)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from harmonybridge import metrics as _metrics
from harmonybridge._core.files import atomic_path


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def palette(n: int) -> list:
    """``n`` distinct colours: tab10 up to 10, tab20 up to 20, then scanpy's 102-colour palette."""
    import matplotlib

    if n <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(n)]
    from scanpy.plotting.palettes import default_102

    return [default_102[i % len(default_102)] for i in range(n)]


def _categories(values: pd.Series) -> pd.Categorical:
    cats = pd.Categorical(values)
    return cats.remove_unused_categories()


def _scatter(ax, xy: np.ndarray, cats: pd.Categorical, colors: list, title: str, annotate: bool = False) -> None:
    order = np.random.default_rng(0).permutation(len(xy))  # no batch drawn entirely on top of another
    rgba = np.asarray([colors[c] if c >= 0 else (0.8, 0.8, 0.8, 1.0) for c in cats.codes], dtype=object)
    ax.scatter(xy[order, 0], xy[order, 1], c=list(rgba[order]), s=max(1.0, min(12.0, 12000 / len(xy))), linewidths=0)
    if annotate:  # cluster numbers at their medians, as sc.pl.umap(legend_loc="on data")
        for i, c in enumerate(cats.categories):
            pts = xy[cats.codes == i]
            if len(pts):
                x, y = np.median(pts, axis=0)
                ax.text(
                    x,
                    y,
                    str(c),
                    fontsize=8,
                    fontweight="bold",
                    ha="center",
                    va="center",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.6},
                )
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)


def _legend(ax, cats: pd.Categorical, colors: list, title: str) -> None:
    """A legend in its own axes (never over a panel), in as many columns as it needs."""
    from matplotlib.lines import Line2D

    ax.set_axis_off()
    counts = pd.Series(cats.codes).value_counts()
    handles = [
        Line2D([], [], marker="o", linestyle="", markersize=6, color=colors[i], label=f"{c} ({int(counts.get(i, 0))})")
        for i, c in enumerate(cats.categories)
    ]
    ncol = 1 if len(handles) <= 14 else 2 if len(handles) <= 30 else 3
    ax.legend(
        handles=handles,
        title=title,
        loc="center left",
        frameon=False,
        fontsize=8,
        title_fontsize=9,
        ncol=ncol,
        handletextpad=0.2,
        columnspacing=0.8,
        borderaxespad=0,
    )


def umap_panels(
    columns: Sequence[tuple[np.ndarray, str]],
    rows: Sequence[tuple[pd.Series, str]],
    *,
    annotate: Sequence[str] = (),
    title: str | None = None,
) -> Any:
    """UMAPs in a grid: one column per embedding (cells x 2, title), one row per colouring (values, what).

    Each row shares its colours across columns and has one legend, in a column of its own (with
    the cell count of each category), so no legend covers a panel. Rows whose ``what`` is in
    ``annotate`` also get their labels written on the data.
    """
    import matplotlib.pyplot as plt

    cats_by_row = [_categories(values) for values, _ in rows]
    longest = max(len(str(c)) for cats in cats_by_row for c in cats.categories)
    n_wide = max(1 + (len(cats.categories) > 14) for cats in cats_by_row)
    widths = [4.6] * len(columns) + [max(1.6, 0.075 * longest + 1.2) * n_wide]
    fig = plt.figure(figsize=(sum(widths), 4.4 * len(rows)), layout="constrained")
    grid = fig.add_gridspec(len(rows), len(columns) + 1, width_ratios=widths)
    for r, ((_, what), cats) in enumerate(zip(rows, cats_by_row, strict=True)):
        colors = palette(len(cats.categories))
        for c, (xy, column_title) in enumerate(columns):
            ax = fig.add_subplot(grid[r, c])
            _scatter(
                ax,
                np.asarray(xy)[:, :2],
                cats,
                colors,
                f"{column_title}\ncoloured by {what}",
                annotate=what in annotate,
            )
        _legend(fig.add_subplot(grid[r, -1]), cats, colors, what)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def umap_grid(
    adata: AnnData,
    path: Path,
    rows: Sequence[tuple[str, str]],
    columns: Sequence[tuple[str, str]],
    *,
    annotate: Sequence[str] = (),
    title: str | None = None,
) -> Path:
    """:func:`umap_panels` of ``adata``: rows are ``obs`` keys (key, what it is), columns ``obsm`` keys
    (key, title); keys in ``annotate`` get their labels on the data. Saved to ``path``."""
    fig = umap_panels(
        [(adata.obsm[basis], column_title) for basis, column_title in columns],
        [(adata.obs[key], what) for key, what in rows],
        annotate=[what for key, what in rows if key in annotate],
        title=title,
    )
    return _save(fig, path)


def lisi_boxes(lisi: dict[tuple[str, str], np.ndarray], names: dict[str, tuple[str, int]], path: Path) -> Path:
    """Per-cell LISI before and after Harmony, one panel per kind.

    ``lisi[(kind, "before"|"after")]`` are the values; ``names[kind] = (obs key, number of
    categories)`` for ``kind`` in "batch" (higher = mixed) and "label" (lower = kept apart).
    """
    import matplotlib.pyplot as plt

    kinds = [k for k in ("batch", "label") if (k, "before") in lisi]
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.4 * len(kinds), 4.2), squeeze=False, layout="constrained")
    for ax, kind in zip(axes[0], kinds, strict=True):
        key, n = names[kind]
        data = [lisi[(kind, "before")], lisi[(kind, "after")]]
        ax.boxplot(
            data,
            widths=0.5,
            whis=(5, 95),
            showfliers=False,
            medianprops={"color": "black", "linewidth": 2},
            patch_artist=True,
            boxprops={"facecolor": "#cfe0f3" if kind == "batch" else "#f6dcc4"},
        )
        ax.set_xticks([1, 2], ["uncorrected PCs", "after Harmony"])
        for x, values in enumerate(data, start=1):
            ax.text(x + 0.3, float(np.median(values)), f"median\n{np.median(values):.2f}", fontsize=8, va="center")
        ax.axhline(n if kind == "batch" else 1, color="grey", lw=0.8, ls="--")
        ax.set_xlim(0.5, 2.9)
        top = float(max(np.percentile(v, 95) for v in data))
        ax.set_ylim(0.9, (n if kind == "batch" else min(n, max(3.0, top + 0.5))) + 0.1)
        if kind == "batch":
            ax.set_title(
                f"batch LISI ({key})\nhigher = batches mixed; {n} = {'both' if n == 2 else f'all {n}'} mixed",
                fontsize=10,
            )
        else:
            ax.set_title(f"cell-type LISI ({key}, {n} types)\nlower = cell types kept apart; 1 = one type", fontsize=10)
        ax.set_ylabel("LISI per cell (box 25-75%, whiskers 5-95%)", fontsize=8)
    return _save(fig, path)


def markers_umap(
    adata: AnnData, path: Path, genes: Sequence[str], title: str = "marker genes on the Harmony-corrected UMAP"
) -> Path | None:
    """Marker genes on the corrected UMAP (over-correction shows as smeared markers); None if none is present."""
    import matplotlib.pyplot as plt
    import scanpy as sc

    names = adata.raw.var_names if adata.raw is not None else adata.var_names
    present = [g for g in genes if g in names]
    if not present:
        return None
    ncols = min(4, len(present))
    nrows = int(np.ceil(len(present) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.8 * nrows), squeeze=False, layout="constrained")
    for ax, gene in zip(axes.flat, present, strict=False):
        sc.pl.umap(
            adata,
            color=gene,
            ax=ax,
            show=False,
            frameon=False,
            use_raw=adata.raw is not None,
            cmap="Reds",
            vmin=0,
            size=max(4.0, min(30.0, 30000 / adata.n_obs)),
        )
    for ax in list(axes.flat)[len(present) :]:
        ax.set_axis_off()
    fig.suptitle(title)
    return _save(fig, path)


def clusters_vs_labels(clusters: pd.Series, labels: pd.Series, path: Path) -> Path:
    """Share of each cluster's cells in each label (rows sum to 1), to name clusters by known types."""
    import matplotlib.pyplot as plt

    table = pd.crosstab(_categories(clusters), _categories(labels))
    share = table.div(table.sum(axis=1), axis=0)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * share.shape[1], 1.2 + 0.32 * share.shape[0]), layout="constrained")
    im = ax.imshow(share.to_numpy(), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(share.shape[1]), [str(c) for c in share.columns], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(share.shape[0]), [f"{i} ({table.loc[i].sum()})" for i in share.index], fontsize=8)
    for (i, j), v in np.ndenumerate(share.to_numpy()):
        if v >= 0.05:
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6.5, color="white" if v > 0.6 else "black")
    ax.set_xlabel(str(labels.name or "label"))
    ax.set_ylabel(f"{clusters.name or 'cluster'} (cells)")
    ax.set_title("share of each cluster's cells per label", fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.6)
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


def markers_dotplot(
    adata: AnnData,
    path: Path,
    markers: Mapping[str, Sequence[str]] | Sequence[str],
    groupby: str = "leiden",
    title: str | None = None,
) -> Path | None:
    """Marker genes per cluster as a dot plot (mean expression scaled per gene, share of cells expressing).

    ``markers`` is a list of genes, or ``{cluster: genes}`` (the demo workflow's ``top_markers``),
    drawn with a bracket per cluster. Genes absent from the data are left out; None if none is present.
    """
    import matplotlib.pyplot as plt
    import scanpy as sc

    names = set(adata.raw.var_names if adata.raw is not None else adata.var_names)
    if isinstance(markers, Mapping):
        var_names: Mapping[str, list[str]] | list[str] = {k: [g for g in v if g in names] for k, v in markers.items()}
        var_names = {k: v for k, v in var_names.items() if v}
    else:
        var_names = [g for g in markers if g in names]
    if not var_names:
        return None
    dp = sc.pl.dotplot(
        adata,
        var_names,
        groupby,
        use_raw=adata.raw is not None,
        standard_scale="var",
        show=False,
        return_fig=True,
        title=title,
        colorbar_title="mean expression\n(scaled per gene)",
    )
    dp.make_figure()
    result = _save(dp.fig, path)
    plt.close("all")
    return result


def png(fig: Any) -> str:
    """A figure as base64 PNG (for a self-contained HTML page); the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def engine_umaps(
    umaps: dict[str, np.ndarray], color_by: list[tuple[str, pd.Series]], labels: dict[str, str] | None = None
) -> Any:
    """UMAPs of each engine's embedding side by side (Python and R by default), one row per colouring
    (the demo's grid: one legend per row, in a column of its own)."""
    labels = {"python": "Python (harmonypy)", "r": "R (harmony)", **(labels or {})}
    columns = [(xy, labels.get(engine, engine)) for engine, xy in umaps.items()]
    return umap_panels(columns, [(values, str(values.name or what)) for what, values in color_by])


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
