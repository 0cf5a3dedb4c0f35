"""One neighbour graph per embedding: the same neighbours, Leiden and UMAP as scanpy's own search gives."""

from __future__ import annotations

import numpy as np
import pytest
import scanpy as sc
from helpers import synthetic
from sklearn.neighbors import NearestNeighbors

from harmonybridge._neighbors import NeighborGraph, sample_cells


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return synthetic(n_cells=1500, n_pcs=10).obsm["X_pca"]


def _scanpy_search(X: np.ndarray):
    """scanpy's own graph of X (below 4,096 cells scanpy searches exactly, by brute force)."""
    import anndata as ad

    a = ad.AnnData(obsm={"X": X.astype(np.float32)}, shape=(X.shape[0], 0))
    sc.pp.neighbors(a, n_neighbors=15, use_rep="X", random_state=0)
    return a


def test_search_is_exact_and_excludes_the_cell(X):
    g = NeighborGraph.search(X, k=15)
    ref = NearestNeighbors(n_neighbors=15, algorithm="brute").fit(X).kneighbors(return_distance=False)
    assert np.array_equal(g.indices, ref)
    assert not (g.indices == np.arange(len(X))[:, None]).any()
    assert np.all(np.diff(g.distances, axis=1) >= 0)


def test_scanpy_graph_is_scanpys_graph_without_a_second_search(X):
    g = NeighborGraph.search(X, k=15)
    ours, theirs = g.scanpy_graph(), _scanpy_search(X)
    assert abs(ours.obsp["connectivities"] - theirs.obsp["connectivities"]).max() < 1e-6
    assert ours.uns["neighbors"]["params"]["n_neighbors"] == 15
    assert g.scanpy_graph() is ours  # built once


def test_leiden_and_umap_run_on_the_shared_graph(X):
    g = NeighborGraph.search(X, k=15)
    theirs = _scanpy_search(X)
    sc.tl.leiden(theirs, resolution=1.0, flavor="igraph", n_iterations=2, directed=False, random_state=0)
    assert np.array_equal(g.leiden(), theirs.obs["leiden"].to_numpy())
    sc.tl.umap(theirs, random_state=0)
    assert np.allclose(g.umap(), theirs.obsm["X_umap"])


def test_sample_cells_is_seeded_sorted_and_only_above_the_size():
    assert sample_cells(100, 100) is None and sample_cells(100, None) is None
    s = sample_cells(1000, 100, random_state=3)
    assert len(s) == 100 and len(set(s)) == 100 and np.all(np.diff(s) > 0)
    assert np.array_equal(s, sample_cells(1000, 100, random_state=3))
    assert not np.array_equal(s, sample_cells(1000, 100, random_state=4))
