"""One neighbour graph per embedding, searched once and reused.

The cross-check needs three things built on each cell's nearest neighbours: the share of
neighbours two embeddings keep, Leiden clusters, and a UMAP for the figures. Each used to
search the neighbours again (exact kNN for the metric, scanpy's own search for Leiden and for
UMAP). :class:`NeighborGraph` searches once, exactly (brute force, scikit-learn), and builds from
the same neighbours the graph ``sc.pp.neighbors`` would store, so Leiden and UMAP run on scanpy's
usual graph (itself plus the 14 nearest other cells, UMAP connectivities) without a second search.

The exact search costs cells^2, so above ``max_cells`` the graph is built on a seeded sample of
cells (:func:`sample_cells`), the same sample for every embedding compared.

The graph's weights are UMAP's fuzzy simplicial set, the connectivities ``sc.pp.neighbors``
computes, written here with numpy (:func:`umap_connectivities`, umap-learn's float32 steps;
equal to its result to 1e-5). umap-learn's own version costs every process about 16 s before its first use
(importing umap, then compiling it with numba), more than Leiden itself on 20,000 cells; only
the figures' UMAP layout still needs umap-learn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData


def sample_cells(n_cells: int, max_cells: int | None, *, random_state: int = 0) -> np.ndarray | None:
    """Sorted indices of a seeded sample of ``max_cells`` cells, or None when all cells are used."""
    if max_cells is None or n_cells <= max_cells:
        return None
    return np.sort(np.random.default_rng(random_state).choice(n_cells, size=max_cells, replace=False))


#: umap-learn's constants (umap/umap_.py): the binary search's tolerance and the smallest sigma, as a
#: share of the mean distance
_SMOOTH_K_TOLERANCE = 1e-5
_MIN_K_DIST_SCALE = 1e-3


def _smooth_knn_dist(dist: np.ndarray, k: float, n_iter: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """umap-learn's ``smooth_knn_dist`` (local_connectivity 1, bandwidth 1) for every cell at once.

    ``dist`` is cells x neighbours, float32, ascending, the cell itself first (distance 0). Returns
    sigma and rho per cell, float32. The same steps as umap-learn's: its constants, its float32 sums
    over the neighbours in their order, compared with a float64 target. Its compiled code rounds a
    little differently, so a few cells' sigma differs in the 6th digit (weights equal to 1e-5; tested).
    """
    f32 = np.float32
    n = dist.shape[0]
    target = np.log2(k)  # float64 there too: the float32 sums are compared with it in float64
    positive = dist > 0
    first = positive.argmax(axis=1)  # rho: the nearest non-zero distance (0 when there is none)
    rho = np.where(positive.any(axis=1), dist[np.arange(n), first], f32(0)).astype(f32)
    lo = np.zeros(n, f32)
    hi = np.full(n, np.finfo(f32).max, f32)
    mid = np.ones(n, f32)
    active = np.ones(n, dtype=bool)
    shifted = dist[:, 1:] - rho[:, None]
    for _ in range(n_iter):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        d, m = shifted[rows], mid[rows][:, None]
        # exp in float64, then rounded to float32 (umap-learn's weights are float32)
        terms = np.where(d > 0, np.exp(-(np.maximum(d, f32(0)) / m).astype(np.float64)), 1.0).astype(f32)
        psum = np.zeros(rows.size, f32)
        for j in range(terms.shape[1]):  # in neighbour order, as umap-learn adds them
            psum += terms[:, j]
        gap = psum.astype(np.float64) - target
        done = np.abs(gap) < _SMOOTH_K_TOLERANCE
        above = ~done & (gap > 0)
        below = ~done & ~above
        r = rows[above]
        hi[r] = mid[r]
        mid[r] = (lo[r] + hi[r]) / f32(2)
        r = rows[below]
        lo[r] = mid[r]
        unbounded = hi[r] >= np.finfo(f32).max
        mid[r] = np.where(unbounded, mid[r] * f32(2), (lo[r] + hi[r]) / f32(2))
        active[rows[done]] = False
    floor = np.where(rho > 0, dist.mean(axis=1, dtype=f32), dist.mean(dtype=f32)) * f32(_MIN_K_DIST_SCALE)
    return np.maximum(mid, floor).astype(f32), rho


def umap_connectivities(indices: np.ndarray, distances: np.ndarray):
    """UMAP's fuzzy simplicial set of a kNN graph: the ``connectivities`` ``sc.pp.neighbors`` stores.

    ``indices``/``distances`` are cells x n_neighbors with the cell itself first (scanpy's
    convention). Returns a symmetric CSR matrix (float32), fuzzy union of each cell's memberships.
    """
    import scipy.sparse as sp

    n, m = indices.shape
    dist = np.ascontiguousarray(distances, dtype=np.float32)
    sigma, rho = _smooth_knn_dist(dist, float(m))
    excess = dist - rho[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):  # sigma 0: those weights are set to 1 below
        vals = np.exp(-(np.maximum(excess, np.float32(0)) / sigma[:, None])).astype(np.float32)
    vals[(excess <= 0) | (sigma[:, None] == 0)] = 1.0
    vals[indices == np.arange(n)[:, None]] = 0.0
    rows = np.repeat(np.arange(n, dtype=np.int32), m)
    P = sp.coo_matrix((vals.ravel(), (rows, indices.ravel().astype(np.int32))), shape=(n, n))
    P.eliminate_zeros()
    Pt = P.transpose()
    union = P + Pt - P.multiply(Pt)
    union.eliminate_zeros()
    return union.tocsr()


def leiden(adata: AnnData, *, resolution: float, random_state: int, key_added: str = "leiden") -> None:
    """Leiden on ``adata``'s neighbour graph, the one way this package calls it (scanpy, igraph
    flavour, two iterations, undirected): clusters in ``adata.obs[key_added]``, as strings."""
    import scanpy as sc

    sc.tl.leiden(
        adata,
        resolution=resolution,
        key_added=key_added,
        flavor="igraph",
        n_iterations=2,
        directed=False,
        random_state=random_state,
    )


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

        from harmonybridge._core.checks import cells_for_neighbors

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
        import scipy.sparse as sp

        n_neighbors = n_neighbors or self.k
        if self._graph is not None and self._graph.uns["neighbors"]["params"]["n_neighbors"] == n_neighbors:
            return self._graph
        n = self.X.shape[0]
        others = min(n_neighbors, self.k + 1) - 1  # scanpy's n_neighbors counts the cell itself
        idx, dist = self.indices[:, :others], self.distances[:, :others]
        graph = ad.AnnData(obs=pd.DataFrame(index=pd.RangeIndex(n).astype(str)))
        graph.obsm["X"] = self.X
        # what sc.pp.neighbors(graph, n_neighbors, use_rep="X") stores, from these neighbours
        graph.obsp["distances"] = sp.csr_matrix(
            (dist.ravel(), idx.ravel(), np.arange(0, n * others + 1, others)), shape=(n, n)
        )
        self_first = np.arange(n)[:, None]
        graph.obsp["connectivities"] = umap_connectivities(
            np.hstack([self_first, idx]), np.hstack([np.zeros((n, 1), np.float32), dist])
        )
        graph.uns["neighbors"] = {
            "connectivities_key": "connectivities",
            "distances_key": "distances",
            "params": {
                "n_neighbors": n_neighbors,
                "method": "umap",
                "random_state": 0,
                "metric": "euclidean",
                "use_rep": "X",
            },
        }
        self._graph = graph
        return graph

    def leiden(self, *, resolution: float = 1.0, random_state: int = 0) -> np.ndarray:
        """Leiden clusters (:func:`leiden`) on this graph, as strings."""
        graph = self.scanpy_graph()
        leiden(graph, resolution=resolution, random_state=random_state)
        return graph.obs["leiden"].to_numpy()

    def umap(self, *, random_state: int = 0) -> np.ndarray:
        """scanpy's UMAP of this graph (cells x 2)."""
        import scanpy as sc

        graph = self.scanpy_graph()
        sc.tl.umap(graph, random_state=random_state)
        return np.asarray(graph.obsm["X_umap"])
