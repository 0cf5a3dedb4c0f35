"""Downstream clustering with scanpy or Seurat, results back in one AnnData, compared."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import needs_r, synthetic

import harmonybridge as hb


@pytest.fixture(scope="module")
def corrected(pbmc3500):
    adata = pbmc3500.copy()
    hb.run_harmony(adata, "donor")
    return adata


def test_scanpy_backend(corrected):
    adata = corrected.copy()
    hb.cluster(adata)
    assert adata.obs["scanpy_clusters"].nunique() > 3
    assert adata.obsm["X_umap_scanpy"].shape == (adata.n_obs, 2)
    assert adata.obsp["scanpy_connectivities"].shape == (adata.n_obs, adata.n_obs)
    assert adata.uns["scanpy_clusters"]["n_neighbors"] == 15
    assert adata.uns["scanpy"]["connectivities_key"] == "scanpy_connectivities"  # scanpy tools find it


@needs_r("Seurat")
def test_seurat_backend_and_comparison(corrected):
    adata = corrected.copy()
    hb.cluster(adata, backend="scanpy")
    hb.cluster(adata, backend="seurat")
    seurat = adata.obs["seurat_clusters"]
    assert seurat.nunique() > 3
    assert list(seurat.cat.categories) == sorted(seurat.cat.categories, key=int)  # Seurat's 0, 1, 2, ... by size
    assert adata.obsm["X_umap_seurat"].shape == (adata.n_obs, 2)
    # the UMAP came back cell by cell: cells in one Seurat cluster sit together in it
    xy = adata.obsm["X_umap_seurat"]
    within = np.mean([xy[(seurat == c).to_numpy()].std(0).mean() for c in seurat.cat.categories])
    assert within < 0.5 * xy.std(0).mean()
    snn = adata.obsp["seurat_snn"]
    assert snn.shape == (adata.n_obs, adata.n_obs)
    assert abs(snn - snn.T).max() < 1e-12  # Seurat's SNN graph is symmetric
    assert np.allclose(snn.diagonal(), 1)
    assert adata.uns["seurat_clusters"]["n_neighbors"] == 20 and adata.uns["seurat_clusters"]["resolution"] == 0.8
    cmp = hb.compare_clusterings(adata.obs["scanpy_clusters"], seurat)
    assert cmp["ari"] > 0.7  # the same cells, two ecosystems: much the same clusters
    assert cmp["contingency"].to_numpy().sum() == adata.n_obs


@needs_r("Seurat")
def test_seurat_backend_is_reproducible_and_keyed(corrected):
    a, b = corrected.copy(), corrected.copy()
    hb.cluster(a, backend="seurat", umap=False, key_added="s1", resolution=0.5)
    hb.cluster(b, backend="seurat", umap=False, key_added="s1", resolution=0.5)
    assert (a.obs["s1_clusters"] == b.obs["s1_clusters"]).all()
    assert "X_umap_s1" not in a.obsm


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"use_rep": "X_nope"}, KeyError, r"'X_nope' not in adata.obsm"),
        ({"backend": "monocle"}, ValueError, "backend must be 'scanpy' or 'seurat'"),
        ({"n_neighbors": 400}, ValueError, "300 cells are too few for 400 neighbours"),
        ({"n_neighbors": 1}, ValueError, "n_neighbors must be at least 2"),
        ({"dims": 1}, ValueError, r"dims=1 must be between 2 and the embedding's 10 columns"),
        ({"dims": 11}, ValueError, r"dims=11 must be between 2"),
        ({"dims": [0, 1, 2]}, ValueError, r"1-based, as in Seurat\), got \[0, 1, 2\]"),
        ({"dims": [1, 1, 2]}, ValueError, "at least 2 distinct component numbers"),
        ({"dims": "1:10"}, TypeError, "dims must be a number of components or a sequence"),
        ({"dims": [1.0, 2.0]}, TypeError, "dims must be a number of components or a sequence"),
    ],
)
def test_errors_leave_adata_unchanged(kwargs, error, match):
    adata = synthetic()
    adata.obsm["X_pca_harmony"] = adata.obsm["X_pca"].copy()
    before = (set(adata.obs.columns), set(adata.obsm), set(adata.obsp), set(adata.uns))
    with pytest.raises(error, match=match):
        hb.cluster(adata, **kwargs)
    assert (set(adata.obs.columns), set(adata.obsm), set(adata.obsp), set(adata.uns)) == before


def test_scanpy_backend_above_8192_cells():
    """scanpy switches to pynndescent from 8,192 cells; that path must work (it broke with pynndescent 0.7)."""
    adata = synthetic(n_cells=9000, n_pcs=10)
    adata.obsm["X_pca_harmony"] = adata.obsm["X_pca"].copy()
    hb.cluster(adata, umap=False)
    assert adata.obs["scanpy_clusters"].nunique() >= 3


def test_copy():
    adata = synthetic()
    adata.obsm["X_pca_harmony"] = adata.obsm["X_pca"].copy()
    out = hb.cluster(adata, copy=True, umap=False)
    assert "scanpy_clusters" in out.obs and "scanpy_clusters" not in adata.obs


@needs_r("Seurat")
def test_seurat_backend_uses_dims_1_to_10_by_default(corrected):
    """FindNeighbors' and RunUMAP's default is dims = 1:10; the Seurat backend uses it unless told otherwise."""
    assert corrected.obsm["X_pca_harmony"].shape[1] > 10
    default, ten, every = corrected.copy(), corrected.copy(), corrected.copy()
    hb.cluster(default, backend="seurat", umap=False)
    hb.cluster(ten, backend="seurat", umap=False, dims=range(1, 11))
    hb.cluster(every, backend="seurat", umap=False, dims=corrected.obsm["X_pca_harmony"].shape[1])
    assert default.uns["seurat_clusters"]["dims"] == list(range(1, 11))
    np.testing.assert_array_equal(default.obsp["seurat_snn"].toarray(), ten.obsp["seurat_snn"].toarray())
    assert (default.obs["seurat_clusters"] == ten.obs["seurat_clusters"]).all()
    assert abs(default.obsp["seurat_snn"] - every.obsp["seurat_snn"]).max() > 0.1  # all dims is another graph


def test_scanpy_backend_uses_every_column_unless_dims_given(corrected):
    default, five = corrected.copy(), corrected.copy()
    hb.cluster(default, umap=False)
    hb.cluster(five, umap=False, dims=5)
    assert default.uns["scanpy_clusters"]["dims"] == list(range(1, corrected.obsm["X_pca_harmony"].shape[1] + 1))
    assert five.uns["scanpy_clusters"]["dims"] == [1, 2, 3, 4, 5]
    assert abs(default.obsp["scanpy_distances"] - five.obsp["scanpy_distances"]).max() > 0


def test_compare_clusterings_in_natural_order():
    labels = np.array([str(i % 12) for i in range(120)])
    other = np.array([f"c{(i + 1) % 11}" for i in range(120)])
    table = hb.compare_clusterings(labels, other)["contingency"]
    assert list(table.index) == [str(i) for i in range(12)]  # 0, 1, 2, ..., 10, 11 (not 0, 1, 10, 11, 2)
    assert list(table.columns) == [f"c{i}" for i in range(11)]
    assert table.to_numpy().sum() == 120
