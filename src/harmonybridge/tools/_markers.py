"""Marker genes with scanpy or with Seurat, in one tidy schema, and a comparison of the two.

``hb.markers(adata, "cell_type", backend="scanpy" | "seurat")`` returns one row per group and
gene with the columns of :data:`COLUMNS`; ``hb.compare_markers(a, b, top=10)`` compares two
such tables group by group.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from harmonybridge._core.counts import is_counts
from harmonybridge._core.warnings import pkg_version

#: the columns of a markers table
COLUMNS = ["group", "gene", "rank", "logfc", "pval", "pval_adj", "pct_in", "pct_out", "score"]

#: what each backend runs (each tool's own defaults, except ``only_pos`` which both take)
DEFAULTS = {
    "scanpy": "sc.tl.rank_genes_groups(method='wilcoxon', corr_method='benjamini-hochberg', tie_correct=False, "
    "pts=True, use_raw=False), all genes; logfc = log2 fold change of expm1 means; score = the Wilcoxon z-score; "
    "order = by score",
    "seurat": "Seurat::FindAllMarkers(test.use='wilcox', logfc.threshold=0.25 (Seurat 5: 0.1), min.pct=0.1 "
    "(Seurat 5: 0.01), return.thresh=0.01, slot/layer='data'); pval_adj = Bonferroni over all genes; logfc = "
    "avg_log2FC; score: none (NaN), Seurat reports none; order = Seurat's own (by p-value, then logfc)",
}


def _check(adata: AnnData, groupby: str, layer: str | None) -> tuple[Any, pd.Series]:
    if not isinstance(adata, AnnData):
        msg = f"markers needs an AnnData, not {type(adata).__name__}"
        raise TypeError(msg)
    if groupby not in adata.obs:
        msg = f"groupby {groupby!r} is not a column of adata.obs; columns: {list(adata.obs.columns)}"
        raise KeyError(msg)
    if layer is not None and layer not in adata.layers:
        msg = f"layer {layer!r} is not in adata.layers; layers: {list(adata.layers)}"
        raise KeyError(msg)
    X = adata.X if layer is None else adata.layers[layer]
    if is_counts(X) and (X.max() if sp.issparse(X) else np.max(X)) > 20:
        where = "adata.X" if layer is None else f"adata.layers[{layer!r}]"
        msg = (
            f"{where} holds integer counts; markers compare log-normalised expression: "
            "sc.pp.normalize_total(adata, target_sum=1e4); sc.pp.log1p(adata) first (or pass layer=...)"
        )
        raise ValueError(msg)
    groups = adata.obs[groupby]
    if groups.isna().any():
        msg = f"obs[{groupby!r}] has {int(groups.isna().sum())} missing values; drop or fill them first"
        raise ValueError(msg)
    groups = groups.astype("category") if not isinstance(groups.dtype, pd.CategoricalDtype) else groups
    groups = groups.cat.remove_unused_categories()
    if len(groups.cat.categories) < 2:
        msg = f"obs[{groupby!r}] has {len(groups.cat.categories)} group(s); markers need at least 2"
        raise ValueError(msg)
    return X, groups


def markers(
    adata: AnnData,
    groupby: str,
    *,
    backend: Literal["scanpy", "seurat"] = "scanpy",
    layer: str | None = None,
    only_pos: bool = True,
) -> pd.DataFrame:
    """Marker genes of each group of ``obs[groupby]``, against all other cells, with scanpy or Seurat.

    Both work on the same log-normalised expression (``X``, or ``layers[layer]``) with their
    own defaults (:data:`DEFAULTS`); ``only_pos`` keeps the genes higher in the group (both).

    Returns
    -------
    A DataFrame with :data:`COLUMNS`: ``group`` (categorical, in the groups' order), ``gene``
    (the AnnData's names), ``rank`` (1 = the tool's top marker of the group), ``logfc``
    (log2 fold change), ``pval``, ``pval_adj``, ``pct_in``/``pct_out`` (fraction of cells
    expressing, in the group / in the others) and ``score`` (the tool's own: scanpy's z-score;
    NaN for Seurat). ``df.attrs`` holds the backend, what it ran and the versions.
    ``adata`` is not changed.
    """
    if backend not in DEFAULTS:
        msg = f"backend must be 'scanpy' or 'seurat', not {backend!r}"
        raise ValueError(msg)
    X, groups = _check(adata, groupby, layer)
    tmp = AnnData(
        X=X,
        obs=pd.DataFrame({"group": groups.to_numpy()}, index=adata.obs_names),
        var=pd.DataFrame(index=adata.var_names),
    )
    tmp.obs["group"] = tmp.obs["group"].astype(pd.CategoricalDtype(groups.cat.categories))
    df = _scanpy(tmp) if backend == "scanpy" else _seurat(tmp)
    if only_pos:
        df = df[df["logfc"] > 0]
    df = df.copy()
    df["group"] = pd.Categorical(df["group"].astype(str), categories=[str(c) for c in groups.cat.categories])
    df = df.sort_values(["group", "order"], kind="stable")
    df["rank"] = df.groupby("group", observed=True).cumcount() + 1
    df = df[COLUMNS].reset_index(drop=True)
    df.attrs.update(
        {
            "backend": backend,
            "groupby": groupby,
            "only_pos": only_pos,
            "ran": DEFAULTS[backend],
            "versions": _versions(backend),
        }
    )
    return df


def _versions(backend: str) -> dict[str, str]:
    if backend == "scanpy":
        return {"scanpy": pkg_version("scanpy") or ""}
    from harmonybridge import _rbridge

    return {p: _rbridge.package_version(p) for p in ("Seurat", "SeuratObject")}


def _scanpy(tmp: AnnData) -> pd.DataFrame:
    import scanpy as sc

    sc.tl.rank_genes_groups(tmp, "group", method="wilcoxon", pts=True, use_raw=False)
    df = sc.get.rank_genes_groups_df(tmp, group=None)
    if "group" not in df:  # one group only: scanpy leaves the column out
        df.insert(0, "group", tmp.obs["group"].cat.categories[0])
    df["order"] = df.groupby("group", observed=True).cumcount()
    return pd.DataFrame(
        {
            "group": df["group"].astype(str),
            "gene": df["names"].astype(str),
            "logfc": df["logfoldchanges"].astype(float),
            "pval": df["pvals"].astype(float),
            "pval_adj": df["pvals_adj"].astype(float),
            "pct_in": df["pct_nz_group"].astype(float),
            "pct_out": df["pct_nz_reference"].astype(float),
            "score": df["scores"].astype(float),
            "order": df["order"],
        }
    )


def _seurat(tmp: AnnData) -> pd.DataFrame:
    from harmonybridge.convert import seurat_feature_name
    from harmonybridge.session import SeuratSession

    s = SeuratSession(tmp, counts=None)
    s.SetIdent(value="group")
    df = s.FindAllMarkers(verbose=False)
    if df is None or len(df) == 0:
        return pd.DataFrame(columns=[*COLUMNS, "order"])
    genes = pd.Index([seurat_feature_name(g) for g in tmp.var_names.astype(str)])
    pos = genes.get_indexer(df["gene"].astype(str))
    names = np.where(pos >= 0, np.asarray(tmp.var_names.astype(str))[np.maximum(pos, 0)], df["gene"].astype(str))
    return pd.DataFrame(
        {
            "group": df["cluster"].astype(str).to_numpy(),
            "gene": names,
            "logfc": df["avg_log2FC"].to_numpy(float),
            "pval": df["p_val"].to_numpy(float),
            "pval_adj": df["p_val_adj"].to_numpy(float),
            "pct_in": df["pct.1"].to_numpy(float),
            "pct_out": df["pct.2"].to_numpy(float),
            "score": np.nan,
            "order": np.arange(len(df)),
        }
    )


def compare_markers(a: pd.DataFrame, b: pd.DataFrame, *, top: int = 10) -> pd.DataFrame:
    """Compare two markers tables (from :func:`markers`) group by group.

    For each group in both: ``jaccard`` of the top-``top`` genes of each, ``rank_corr``
    (Spearman, over the genes of either top list that both tables rank), ``logfc_corr``
    (Pearson, over every gene both tables report for the group), ``n_a``/``n_b`` (genes each
    reports) and ``only_a``/``only_b`` (top genes the other side's top list lacks).
    ``df.attrs["mean"]`` averages the figures over groups; groups found on one side only are
    listed in ``df.attrs["groups_only_a"]`` / ``["groups_only_b"]``.
    """
    from scipy.stats import pearsonr, spearmanr

    for name, df in (("a", a), ("b", b)):
        missing = [c for c in ("group", "gene", "rank", "logfc") if c not in df.columns]
        if missing:
            msg = f"table {name} lacks columns {missing}; pass tables made by hb.markers"
            raise KeyError(msg)
    if top < 1:
        msg = f"top must be at least 1, got {top}"
        raise ValueError(msg)
    ga, gb = [list(pd.unique(df["group"].astype(str))) for df in (a, b)]
    rows = []
    for g in [x for x in ga if x in gb]:
        ta = a[a["group"].astype(str) == g].sort_values("rank")
        tb = b[b["group"].astype(str) == g].sort_values("rank")
        top_a, top_b = list(ta["gene"][:top]), list(tb["gene"][:top])
        sa, sb = set(top_a), set(top_b)
        ra, rb = ta.set_index("gene")["rank"], tb.set_index("gene")["rank"]
        union = [x for x in dict.fromkeys(top_a + top_b) if x in ra.index and x in rb.index]
        rank_corr = spearmanr(ra[union], rb[union])[0] if len(union) >= 3 else np.nan
        shared = ra.index.intersection(rb.index)
        fa, fb = ta.set_index("gene")["logfc"], tb.set_index("gene")["logfc"]
        logfc_corr = pearsonr(fa[shared], fb[shared])[0] if len(shared) >= 3 else np.nan
        rows.append(
            {
                "group": g,
                "n_a": len(ta),
                "n_b": len(tb),
                "jaccard": len(sa & sb) / len(sa | sb) if sa | sb else np.nan,
                "rank_corr": float(rank_corr),
                "logfc_corr": float(logfc_corr),
                "n_shared": len(shared),
                "only_a": [x for x in top_a if x not in sb],
                "only_b": [x for x in top_b if x not in sa],
            }
        )
    out = pd.DataFrame(rows).set_index("group") if rows else pd.DataFrame(columns=["n_a", "n_b", "jaccard"])
    out.attrs.update(
        {
            "top": top,
            "groups_only_a": [x for x in ga if x not in gb],
            "groups_only_b": [x for x in gb if x not in ga],
            "mean": {k: float(out[k].mean()) for k in ("jaccard", "rank_corr", "logfc_corr")} if rows else {},
            "a": a.attrs.get("backend", "a"),
            "b": b.attrs.get("backend", "b"),
        }
    )
    return out


__all__ = ["COLUMNS", "DEFAULTS", "compare_markers", "markers"]
