"""Clustering: scanpy's neighbour graph and Leiden (used by the cross-check too), and downstream
clustering in either ecosystem, results back in one AnnData under keys that name the ecosystem,
so scanpy's and Seurat's clusters can sit side by side and be compared."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from harmonybridge import _rbridge
from harmonybridge._core import checks as _check
from harmonybridge._core.warnings import pkg_version
from harmonybridge.metrics import compare_clusterings, leiden

logger = logging.getLogger("harmonybridge")


def neighbor_graph(X: np.ndarray, *, n_neighbors: int, random_state: int = 0, names: pd.Index | None = None):
    """A scratch AnnData holding X and scanpy's neighbour graph of it (the caller's AnnData is never touched)."""
    import anndata as ad
    import scanpy as sc

    index = names if names is not None else pd.RangeIndex(X.shape[0]).astype(str)
    graph = ad.AnnData(obs=pd.DataFrame(index=index))
    graph.obsm["X"] = np.asarray(X, dtype=np.float32)
    sc.pp.neighbors(graph, n_neighbors=n_neighbors, use_rep="X", random_state=random_state)
    return graph


#: each ecosystem's own defaults, used when n_neighbors / resolution / dims are None. dims: scanpy's
#: neighbors uses every column of use_rep (n_pcs=None); Seurat's FindNeighbors and RunUMAP default to dims = 1:10.
DEFAULTS = {
    "scanpy": {"n_neighbors": 15, "resolution": 1.0, "dims": None},
    "seurat": {"n_neighbors": 20, "resolution": 0.8, "dims": 10},
}


def _dims(dims: int | Sequence[int] | None, n_components: int, backend: str) -> list[int]:
    """The 0-based columns to use: ``dims`` is a count (the first ``dims``) or 1-based numbers, as
    Seurat's ``dims = 1:10``."""
    if dims is None:
        dims = DEFAULTS[backend]["dims"]
        if dims is None:
            return list(range(n_components))
        if n_components < dims:
            logger.info(
                "%s's default dims = 1:%d, but the embedding has %d columns: using all", backend, dims, n_components
            )
            return list(range(n_components))
    if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
        if not 2 <= dims <= n_components:
            msg = f"dims={dims} must be between 2 and the embedding's {n_components} columns"
            raise ValueError(msg)
        return list(range(int(dims)))
    numbers = list(dims) if isinstance(dims, (Sequence, range, np.ndarray)) and not isinstance(dims, str) else None
    if not numbers or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in numbers):
        msg = (
            "dims must be a number of components or a sequence of 1-based component numbers "
            f"(as Seurat's 1:10), got {dims!r}"
        )
        raise TypeError(msg)
    bad = [int(d) for d in numbers if not 1 <= d <= n_components]
    if bad or len(set(numbers)) != len(numbers) or len(numbers) < 2:
        msg = (
            f"dims must be at least 2 distinct component numbers in 1..{n_components} (1-based, as in Seurat), "
            f"got {list(map(int, numbers))}"
        )
        raise ValueError(msg)
    return [int(d) - 1 for d in numbers]


def _scanpy(X: np.ndarray, names: pd.Index, n_neighbors: int, resolution: float, umap: bool, seed: int) -> dict:
    import scanpy as sc

    tmp = neighbor_graph(X, n_neighbors=n_neighbors, random_state=seed, names=names)
    leiden(tmp, resolution=resolution, random_state=seed)
    if umap:
        sc.tl.umap(tmp, random_state=seed)
    return {
        "clusters": tmp.obs["leiden"],
        "graphs": {"connectivities": tmp.obsp["connectivities"], "distances": tmp.obsp["distances"]},
        "umap": tmp.obsm.get("X_umap"),
        "neighbors_params": dict(tmp.uns["neighbors"]["params"]),
        "versions": {"scanpy": pkg_version("scanpy") or ""},
    }


def _seurat(X: np.ndarray, names: pd.Index, n_neighbors: int, resolution: float, umap: bool, seed: int) -> dict:
    n = X.shape[0]
    out = _rbridge.seurat_cluster(
        X, list(map(str, names)), n_neighbors=n_neighbors, resolution=resolution, umap=umap, seed=seed
    )
    clusters = pd.Series(pd.Categorical.from_codes(out["codes"], categories=out["levels"]), index=names)
    snn = sp.csc_matrix(out["snn"], shape=(n, n)).tocsr()
    return {
        "clusters": clusters,
        "graphs": {"snn": snn},
        "umap": out["umap"],
        "neighbors_params": {"k.param": n_neighbors},
        "versions": out["versions"],
    }


def cluster(
    adata: AnnData,
    *,
    backend: Literal["scanpy", "seurat"] = "scanpy",
    use_rep: str = "X_pca_harmony",
    n_neighbors: int | None = None,
    resolution: float | None = None,
    dims: int | Sequence[int] | None = None,
    key_added: str | None = None,
    umap: bool = True,
    random_state: int = 0,
    copy: bool = False,
) -> AnnData | None:
    """Neighbours, clusters and UMAP on ``obsm[use_rep]`` with scanpy or with Seurat.

    - ``backend="scanpy"``: ``sc.pp.neighbors``, Leiden, ``sc.tl.umap`` (defaults 15 neighbours, resolution 1.0).
    - ``backend="seurat"``: ``FindNeighbors``, ``FindClusters`` (Louvain, Seurat's default) and ``RunUMAP``
      through the R bridge (defaults ``k.param=20``, resolution 0.8, and ``dims = 1:10`` as
      ``FindNeighbors``/``RunUMAP`` use by default); only the embedding's columns in ``dims`` cross to R.

    ``dims`` picks the embedding's columns for the neighbour graph and the UMAP: a count (``dims=20``:
    the first 20) or 1-based component numbers as in Seurat (``dims=range(1, 21)``). ``None`` means each
    ecosystem's default: every column for scanpy (``n_pcs=None``), the first 10 for Seurat (all
    when there are fewer).

    Results go under ``key = key_added or backend``: ``obs[f"{key}_clusters"]``,
    ``obsm[f"X_umap_{key}"]``, the graphs in ``obsp`` (``{key}_connectivities``/``{key}_distances``
    for scanpy, ``{key}_snn`` for Seurat) and the settings in ``uns[f"{key}_clusters"]``.
    On any error ``adata`` is unchanged.
    """
    if backend not in DEFAULTS:
        msg = f"backend must be 'scanpy' or 'seurat', got {backend!r}"
        raise ValueError(msg)
    X = _check.embedding(adata, use_rep)
    n_neighbors = DEFAULTS[backend]["n_neighbors"] if n_neighbors is None else int(n_neighbors)
    resolution = DEFAULTS[backend]["resolution"] if resolution is None else float(resolution)
    if n_neighbors < 2:
        msg = f"n_neighbors must be at least 2, got {n_neighbors}"
        raise ValueError(msg)
    _check.cells_for_neighbors(adata.n_obs, n_neighbors)
    columns = _dims(dims, X.shape[1], backend)
    key = key_added or backend
    logger.info(
        "clustering with %s on %s (%d of %d columns): %d cells, %d neighbours, resolution %s",
        backend,
        use_rep,
        len(columns),
        X.shape[1],
        adata.n_obs,
        n_neighbors,
        resolution,
    )
    run = _scanpy if backend == "scanpy" else _seurat
    Xd = np.asarray(X)[:, columns] if len(columns) != X.shape[1] or columns != list(range(X.shape[1])) else X
    res = run(
        np.ascontiguousarray(Xd, dtype=np.float32 if backend == "scanpy" else np.float64),
        adata.obs_names,
        n_neighbors,
        resolution,
        umap,
        random_state,
    )
    target = adata.copy() if copy else adata
    target.obs[f"{key}_clusters"] = pd.Categorical(
        np.asarray(res["clusters"]), categories=list(pd.Categorical(res["clusters"]).categories)
    )
    for name, graph in res["graphs"].items():
        target.obsp[f"{key}_{name}"] = graph
    if res["umap"] is not None:
        target.obsm[f"X_umap_{key}"] = res["umap"]
    target.uns[f"{key}_clusters"] = {
        "backend": backend,
        "use_rep": use_rep,
        "n_neighbors": n_neighbors,
        "resolution": resolution,
        "dims": [c + 1 for c in columns],
        "random_state": random_state,
        "n_clusters": int(target.obs[f"{key}_clusters"].nunique()),
        "graphs": [f"{key}_{name}" for name in res["graphs"]],
        "versions": res["versions"],
    }
    if backend == "scanpy":  # so that scanpy's own tools find the graph: sc.tl.umap(adata, neighbors_key=key)
        target.uns[key] = {
            "connectivities_key": f"{key}_connectivities",
            "distances_key": f"{key}_distances",
            "params": res["neighbors_params"],
        }
    return target if copy else None


__all__ = ["cluster", "compare_clusterings", "neighbor_graph"]
