"""One neighbour graph per embedding, searched once and reused.

The cross-check needs three things built on each cell's nearest neighbours: the share of
neighbours two embeddings keep, Leiden clusters, and a UMAP for the figures. Each used to
search the neighbours again (exact kNN for the metric, scanpy's own search for Leiden and for
UMAP). :class:`NeighborGraph` searches once, exactly (brute force, scikit-learn), and hands the
same neighbours to scanpy through its public ``transformer=`` hook, so Leiden and UMAP run on
scanpy's usual graph (itself plus the 14 nearest other cells, UMAP connectivities) without a
second search.

The exact search costs cells^2, so above ``max_cells`` the graph is built on a seeded sample of
cells (:func:`sample_cells`), the same sample for every embedding compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


def sample_cells(n_cells: int, max_cells: int | None, *, random_state: int = 0) -> np.ndarray | None:
    """Sorted indices of a seeded sample of ``max_cells`` cells, or None when all cells are used."""
    if max_cells is None or n_cells <= max_cells:
        return None
    return np.sort(np.random.default_rng(random_state).choice(n_cells, size=max_cells, replace=False))


class _Precomputed:
    """scanpy's KnnTransformerLike that returns neighbours already found (one search per embedding)."""

    def __init__(self, distances, n_neighbors: int) -> None:
        self.distances = distances
        self.n_neighbors = n_neighbors

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"n_neighbors": self.n_neighbors}

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return self.distances

    def fit_transform(self, X, y=None):
        return self.distances


@dataclass
class NeighborGraph:
    """Each cell's ``k`` nearest other cells (exact, nearest first) in one embedding.

    ``indices`` / ``distances`` are cells x k; :meth:`scanpy_graph` turns them into scanpy's
    neighbour graph once, which :meth:`leiden` and :meth:`umap` share.
    """

    X: np.ndarray
    indices: np.ndarray
    distances: np.ndarray
    _graph: Any = field(default=None, repr=False)

    @classmethod
    def search(cls, X: np.ndarray, k: int = 15) -> NeighborGraph:
        """Exact kNN by brute force (scikit-learn, float32, every core), the cell itself excluded."""
        from sklearn.neighbors import NearestNeighbors

        from ._check import cells_for_neighbors

        X = np.ascontiguousarray(X, dtype=np.float32)
        cells_for_neighbors(X.shape[0], k, "nearest neighbours")
        nn = NearestNeighbors(n_neighbors=k, algorithm="brute", n_jobs=-1).fit(X)
        distances, indices = nn.kneighbors(return_distance=True)
        return cls(X=X, indices=indices, distances=distances.astype(np.float32))

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    def scanpy_graph(self, n_neighbors: int | None = None):
        """A scratch AnnData with scanpy's graph of these neighbours (built once; no new search).

        scanpy counts the cell itself among its ``n_neighbors`` (default ``k``): itself plus the
        ``n_neighbors - 1`` nearest others, as ``sc.pp.neighbors`` would give with an exact search.
        """
        import anndata as ad
        import scanpy as sc
        import scipy.sparse as sp

        n_neighbors = n_neighbors or self.k
        if self._graph is not None and self._graph.uns["neighbors"]["params"]["n_neighbors"] == n_neighbors:
            return self._graph
        n = self.X.shape[0]
        m = min(n_neighbors, self.k)
        idx, dist = self.indices[:, :m], self.distances[:, :m]
        csr = sp.csr_matrix((dist.ravel(), idx.ravel(), np.arange(0, n * m + 1, m)), shape=(n, n))
        graph = ad.AnnData(obs=pd.DataFrame(index=pd.RangeIndex(n).astype(str)))
        graph.obsm["X"] = self.X
        sc.pp.neighbors(graph, n_neighbors=n_neighbors, use_rep="X", transformer=_Precomputed(csr, n_neighbors))
        self._graph = graph
        return graph

    def leiden(self, *, resolution: float = 1.0, random_state: int = 0) -> np.ndarray:
        """Leiden clusters (igraph flavour, as :func:`harmonybridge._cluster.leiden`) on this graph, as strings."""
        import scanpy as sc

        graph = self.scanpy_graph()
        sc.tl.leiden(
            graph, resolution=resolution, flavor="igraph", n_iterations=2, directed=False, random_state=random_state
        )
        return graph.obs["leiden"].to_numpy()

    def umap(self, *, random_state: int = 0) -> np.ndarray:
        """scanpy's UMAP of this graph (cells x 2)."""
        import scanpy as sc

        graph = self.scanpy_graph()
        sc.tl.umap(graph, random_state=random_state)
        return np.asarray(graph.obsm["X_umap"])
