"""Markers with scanpy and with Seurat on real cells (ifnb), one schema, and their comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import DATA, needs_data, needs_r

import harmonybridge as hb
from harmonybridge.tools._markers import COLUMNS

pytestmark = needs_data("ifnb_2800_counts.h5ad")
KNOWN = {
    "CD14 Mono": {"CD14", "LYZ", "S100A9", "S100A8", "FCN1"},
    "B": {"MS4A1", "CD79A", "CD79B", "TCL1A"},
    "NK": {"GNLY", "NKG7", "PRF1", "GZMB", "KLRD1"},
}


@pytest.fixture(scope="module")
def three_types():
    """Three cell types of ifnb, 80 cells each, log-normalised, genes seen in 10+ cells."""
    import anndata as ad
    import scanpy as sc

    a = ad.read_h5ad(DATA / "ifnb_2800_counts.h5ad")
    keep = np.concatenate([np.flatnonzero(a.obs["cell_type"] == t)[:80] for t in KNOWN])
    a = a[keep].copy()
    a.obs["cell_type"] = a.obs["cell_type"].cat.remove_unused_categories()
    a = a[:, np.asarray((a.X > 0).sum(0)).ravel() >= 10].copy()
    sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a)
    return a


def _check_table(df, adata, backend):
    assert list(df.columns) == COLUMNS
    assert list(df["group"].cat.categories) == list(adata.obs["cell_type"].cat.categories)
    assert set(df["gene"]) <= set(adata.var_names)
    assert (df["logfc"] > 0).all()  # only_pos
    assert df[["pct_in", "pct_out"]].apply(lambda c: c.between(0, 1).all()).all()
    assert (df["pval_adj"] >= df["pval"] - 1e-300).all()
    for g, sub in df.groupby("group", observed=True):
        assert list(sub["rank"]) == list(range(1, len(sub) + 1))
        best = sub[sub["gene"].isin(KNOWN[g])]["rank"].min()
        assert best <= 60, f"{backend}: the first known {g} marker is at rank {best}"
    assert df.attrs["backend"] == backend and df.attrs["groupby"] == "cell_type"


def test_scanpy_markers(three_types):
    adata = three_types.copy()
    df = hb.markers(adata, "cell_type", backend="scanpy")
    _check_table(df, adata, "scanpy")
    for _g, sub in df.groupby("group", observed=True):  # scanpy's own order: by z-score
        assert np.all(np.diff(sub["score"].to_numpy()) <= 0)
    # pct_in is the share of the group's cells expressing the gene
    row = df.iloc[0]
    cells = (adata.obs["cell_type"] == row["group"]).to_numpy()
    assert row["pct_in"] == pytest.approx((adata[cells, row["gene"]].X > 0).mean())
    assert set(adata.uns) == set(three_types.uns) and list(adata.obs) == list(three_types.obs)  # adata unchanged


@needs_r("Seurat")
def test_seurat_markers_and_comparison(three_types):
    adata = three_types.copy()
    se = hb.markers(adata, "cell_type", backend="seurat")
    _check_table(se, adata, "seurat")
    assert se["score"].isna().all()
    # Seurat's defaults: Bonferroni over all genes, logfc.threshold 0.25 (Seurat 4) or 0.1 (5), return.thresh 0.01
    assert np.allclose(se["pval_adj"], np.minimum(1, se["pval"] * adata.n_vars))
    assert (se["logfc"] >= 0.1).all() and (se["pval"] < 0.01).all()
    sc_ = hb.markers(adata, "cell_type", backend="scanpy")
    cmp = hb.compare_markers(sc_, se, top=20)
    assert list(cmp.index) == list(adata.obs["cell_type"].cat.categories)
    # scanpy's fold change is of expm1(mean log) (pseudocount 1e-9), Seurat's of mean(expm1) (pseudocount 1):
    # they agree in sign only (only_pos), so their correlation is a figure to report, not a floor
    assert cmp["logfc_corr"].notna().all() and cmp["jaccard"].min() > 0.1
    for g in cmp.index:
        top_a = set(sc_[sc_["group"] == g].nsmallest(20, "rank")["gene"])
        top_b = set(se[se["group"] == g].nsmallest(20, "rank")["gene"])
        assert cmp.loc[g, "jaccard"] == pytest.approx(len(top_a & top_b) / len(top_a | top_b))
        assert set(cmp.loc[g, "only_a"]) == top_a - top_b and set(cmp.loc[g, "only_b"]) == top_b - top_a
    assert cmp.attrs["a"] == "scanpy" and cmp.attrs["b"] == "seurat"


def test_compare_markers_figures():
    a = pd.DataFrame(
        {
            "group": ["g"] * 4 + ["h"] * 3,
            "gene": list("abcd") + list("xyz"),
            "rank": [1, 2, 3, 4, 1, 2, 3],
            "logfc": [4.0, 3, 2, 1, 3, 2, 1],
        }
    )
    b = pd.DataFrame(
        {
            "group": ["g"] * 4 + ["k"],
            "gene": list("bace") + ["q"],
            "rank": [1, 2, 3, 4, 1],
            "logfc": [3.5, 4.5, 2.5, 0.5, 1],
        }
    )
    cmp = hb.compare_markers(a, b, top=3)
    assert list(cmp.index) == ["g"]
    row = cmp.loc["g"]
    assert row["jaccard"] == pytest.approx(3 / 3)  # top 3 of each: {a, b, c}
    assert row["only_a"] == [] and row["only_b"] == []
    assert row["rank_corr"] == pytest.approx(0.5)  # ranks of a, b, c: (1, 2, 3) vs (2, 1, 3)
    assert row["logfc_corr"] == pytest.approx(np.corrcoef([4, 3, 2], [4.5, 3.5, 2.5])[0, 1])
    assert cmp.attrs["groups_only_a"] == ["h"] and cmp.attrs["groups_only_b"] == ["k"]
    cmp2 = hb.compare_markers(a, b, top=4)
    assert cmp2.loc["g", "jaccard"] == pytest.approx(3 / 5)
    assert cmp2.loc["g", "only_a"] == ["d"] and cmp2.loc["g", "only_b"] == ["e"]


def test_bad_input_names_the_problem(three_types):
    adata = three_types.copy()
    with pytest.raises(
        KeyError, match=r"groupby 'celltype' is not a column of adata.obs; columns: \['stim', 'cell_type'\]"
    ):
        hb.markers(adata, "celltype")
    with pytest.raises(ValueError, match="backend must be 'scanpy' or 'seurat'"):
        hb.markers(adata, "cell_type", backend="limma")
    counts = adata.copy()
    counts.X = (counts.X.expm1() * 10).ceil()
    with pytest.raises(ValueError, match=r"adata.X holds integer counts; .*sc.pp.log1p"):
        hb.markers(counts, "cell_type")
    one = adata[adata.obs["cell_type"] == "B"].copy()
    with pytest.raises(ValueError, match="has 1 group"):
        hb.markers(one, "cell_type")
    assert list(adata.obs) == ["stim", "cell_type"] and set(adata.uns) == set(three_types.uns)
