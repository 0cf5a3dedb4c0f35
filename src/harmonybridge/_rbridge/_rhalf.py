"""Calls into harmonybridge's R half (``r/``) that the rest of the package makes: Python in, Python out.

Each function names one R function of the R half and what crosses; all of them go through
:func:`~._calls.call` (arguments bound to names, R errors as :class:`RError`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from ._calls import call, hb
from ._lists import attr, get, is_null, names, r_list
from ._session import RBridgeError, require, robjects
from ._vectors import factor, float_matrix, matrix_to_numpy, str_list, to_numpy


def read_rds(path: str | os.PathLike) -> Any:
    """The Seurat object in an ``.rds`` (R refuses any other class)."""
    return call("hb_read_rds", str(path), what=f"reading {str(path)!r}")


def load_rdata(path: str | os.PathLike) -> dict[str, Any]:
    """The objects an ``.RData``/``.rda`` file holds, by name (``load`` into a fresh environment)."""
    env = call(_base("new.env"), what="making an environment")
    loaded = call(_base("load"), str(path), envir=env, what=f"loading {str(path)!r}")
    return {
        str(name): call(_base("get"), str(name), envir=env, what=f"reading {name!r} from {str(path)!r}")
        for name in str_list(loaded)
    }


def write_rds(obj: Any, path: str | os.PathLike, *, what: str | None = None) -> None:
    """Save an R object to ``path`` with ``saveRDS``."""
    call("hb_write_rds", obj, str(path), what=what or f"writing {str(path)!r}")


def batch_frame(meta: pd.DataFrame, keys: list[str]) -> Any:
    """The batch columns as an R data.frame of factors whose levels are sorted as harmonypy sorts them."""
    columns = {}
    for key in keys:
        col = meta[key]
        values = (
            col.astype(str) if not isinstance(col.dtype, pd.CategoricalDtype) else col.cat.remove_unused_categories()
        )
        cat = pd.Categorical(values)
        labels = np.asarray(cat.categories.astype(str))
        order = np.argsort(labels, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        columns[key] = factor(rank[cat.codes], labels[order])
    return call(
        _base("data.frame"), **columns, check_names=False, stringsAsFactors=False, what="building the batch data.frame"
    )


def _base(name: str) -> Any:
    from ._calls import RFunction

    return RFunction("base", name)


class REmbedding:
    """A cells x components embedding that stays in R, held as its components x cells double matrix
    (harmony's layout, the bytes of NumPy's cells x components).

    The R engine runs on it where it is, so a Seurat object's reduction corrected by R harmony never
    leaves R; anything else gets NumPy by ``np.asarray`` (one copy). The embedding checks ask R which
    cells are not finite (:meth:`nonfinite_rows`).
    """

    dtype = np.dtype(np.float64)

    def __init__(self, robj: Any) -> None:
        self.robj = robj
        dim = [int(v) for v in robj.do_slot("dim")]
        self.shape = (dim[1], dim[0])

    def nonfinite_rows(self) -> np.ndarray:
        """The 0-based cells (rows) holding NaN, NA or Inf, found in R."""
        return to_numpy(call("hb_nonfinite_cells", self.robj, what="checking the embedding"), np.int64)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return matrix_to_numpy(self.robj, dtype or np.float64)


def run_harmony(
    Z: np.ndarray | REmbedding, meta: pd.DataFrame, keys: list[str], r_args: dict[str, Any], *, verbose: bool
) -> dict[str, Any]:
    """``hb_run_harmony`` (``harmony::RunHarmony`` after ``set.seed``) on cells x PCs ``Z``.

    ``r_args`` holds R's argument names and values (``HarmonyParams.to_r()`` flattened). A NumPy
    embedding crosses once each way, in harmony's PCs x cells layout; an :class:`REmbedding` does
    not cross at all, and the corrected embedding comes back as one. Returns the corrected cells x
    PCs and the trace (objective, k-means rounds, versions).
    """
    require("harmony")
    n_cells, n_pcs = Z.shape
    ro = robjects()
    fn = hb().hb_run_harmony
    accepted = set(fn.formals())
    unknown = sorted(set(r_args) - accepted)
    # hb_run_harmony of R half 0.1 always runs with early_stop = TRUE (as harmonypy does): nothing is lost
    if [n for n in unknown if n != "early_stop"] or r_args.get("early_stop", True) is not True:
        msg = f"the installed R half's hb_run_harmony takes none of {unknown}; reinstall it (make setup)"
        raise RBridgeError(msg)
    kwargs = {k: (ro.FloatVector(v) if isinstance(v, list) else v) for k, v in r_args.items() if k in accepted}
    in_r = isinstance(Z, REmbedding)
    out = call(
        fn,
        Z.robj if in_r else float_matrix(Z, n_pcs, n_cells),
        batch_frame(meta, keys),
        ro.StrVector(keys),
        verbose=verbose,
        what="harmony::RunHarmony",
        **kwargs,
    )
    versions = get(out, "versions")
    embedding = get(out, "embedding")
    return {
        "embedding": REmbedding(embedding) if in_r else matrix_to_numpy(embedding, np.float64),
        "objective": to_numpy(get(out, "objective"), np.float64),
        "kmeans_rounds": to_numpy(get(out, "kmeans_rounds"), np.int64),
        "objective_kmeans": to_numpy(get(out, "objective_kmeans"), np.float64),
        "versions": dict(zip(names(versions), (str(v) for v in versions), strict=True)),
    }


def seurat_embedding(obj: Any, reduction: str) -> tuple[REmbedding, list[str]]:
    """A Seurat reduction's cells x dims embedding, left in R (:class:`REmbedding`), and its cell names."""
    emb = call("hb_seurat_embedding", obj, reduction, what="reading the Seurat reduction")
    return REmbedding(emb), str_list(attr(emb, "dimnames")[1])


def seurat_meta(obj: Any, keys: list[str]) -> dict[str, list[str | None]]:
    """Columns of a Seurat object's meta.data as strings (None for NA)."""
    ro = robjects()
    meta = call("hb_seurat_meta", obj, ro.StrVector(keys), what="reading the Seurat meta.data")
    return {k: str_list(get(meta, k)) for k in keys}


def seurat_numeric(obj: Any, keys: list[str]) -> dict[str, bool]:
    """Which of a Seurat object's meta.data columns ``keys`` are numeric in R (``is.numeric``)."""
    from ._calls import RFunction

    ro = robjects()
    md = call(RFunction("SeuratObject", "FetchData"), obj, vars=ro.StrVector(keys), what="reading the Seurat meta.data")
    flags = call(_base("vapply"), md, "is.numeric", True, what="reading the meta.data column types")
    return dict(zip(names(flags), (bool(v) for v in flags), strict=True))


def seurat_add_harmony(
    obj: Any,
    embedding: np.ndarray | REmbedding,
    *,
    record_json: str,
    reduction: str,
    reduction_save: str,
    project_dim: bool,
) -> Any:
    """A new Seurat object with ``embedding`` (cells x dims; NumPy, or already in R) as reduction ``reduction_save``."""
    n, d = embedding.shape
    return call(
        "hb_seurat_add_harmony",
        obj,
        embedding.robj if isinstance(embedding, REmbedding) else float_matrix(np.asarray(embedding), d, n),
        record=record_json,
        what="storing the harmony reduction",
        **{"reduction.use": reduction, "reduction.save": reduction_save, "project.dim": project_dim},
    )


def seurat_cluster(
    X: np.ndarray, cells: list[str], *, n_neighbors: int, resolution: float, umap: bool, seed: int
) -> dict[str, Any]:
    """Seurat's FindNeighbors, FindClusters and RunUMAP on cells x dims ``X``.

    Returns the clusters (levels and 0-based codes), the SNN graph's CSC parts, the UMAP
    (cells x 2, or None) and the versions.
    """
    require("Seurat")
    ro = robjects()
    n, d = X.shape
    out = call(
        "hb_seurat_cluster",
        float_matrix(X, d, n),
        ro.StrVector(cells),
        seed=seed,
        umap=umap,
        resolution=resolution,
        what="Seurat FindNeighbors/FindClusters/RunUMAP",
        **{"k.param": n_neighbors},
    )
    clusters = get(out, "clusters")
    coords = get(out, "umap")
    versions = get(out, "versions")
    return {
        "levels": [str(v) for v in clusters.do_slot("levels")],
        "codes": to_numpy(clusters, np.int64) - 1,
        "snn": (
            to_numpy(get(out, "snn_x")),
            to_numpy(get(out, "snn_i"), np.int32),
            to_numpy(get(out, "snn_p"), np.int32),
        ),
        "umap": None if is_null(coords) or not umap else to_numpy(coords, np.float64).reshape(2, n).T.copy(),
        "versions": dict(zip(names(versions), map(str, versions), strict=True)),
    }


def seurat_harmony_path() -> dict[str, Any]:
    """``hb_seurat_harmony_path``: whether this R can run IntegrateLayers(method = HarmonyIntegration),
    why not, how it runs where the installed Seurat calls a harmony function harmony 2 removed (``note``),
    the versions, HarmonyIntegration's defaults and what the path cannot set (harmonybridge's names)."""

    def values(lst: Any) -> dict[str, Any]:
        out = {}
        for key in names(lst):
            vals = [None if isinstance(v, float) and np.isnan(v) else v for v in get(lst, key)]
            out[key] = vals[0] if len(vals) == 1 else tuple(vals)
        return out

    st = call("hb_seurat_harmony_path", what="checking Seurat's HarmonyIntegration")
    versions = get(st, "versions")
    return {
        "ok": bool(get(st, "ok")[0]),
        "reason": str(get(st, "reason")[0]),
        "note": str(get(st, "note")[0]),
        "versions": {k: str(v) for k, v in zip(names(versions), versions, strict=True) if str(v) != "NA"},
        "defaults": values(get(st, "defaults")),
        "fixed": values(get(st, "fixed")),
    }


def seurat_integrate(
    Z: np.ndarray, codes: np.ndarray, levels: list[str], r_params: dict[str, Any], *, seed: int, verbose: bool
) -> dict[str, Any]:
    """``hb_seurat_integrate``: IntegrateLayers(method = HarmonyIntegration) on a Seurat 5 object of these cells.

    ``codes`` are each cell's 0-based batch level; ``r_params`` HarmonyIntegration's arguments by
    R name (empty: Seurat's own defaults; None values cross as NULL, lists as numeric vectors).
    """
    ro = robjects()
    n_cells, n_pcs = Z.shape
    params = r_list({k: (ro.FloatVector(v) if isinstance(v, list | tuple) else v) for k, v in r_params.items()})
    out = call(
        "hb_seurat_integrate",
        float_matrix(Z, n_pcs, n_cells),
        factor(codes, levels),
        params=params,
        seed=seed,
        verbose=verbose,
        what="Seurat::IntegrateLayers(method = HarmonyIntegration)",
    )
    versions = get(out, "versions")
    return {
        "embedding": matrix_to_numpy(get(out, "embedding"), np.float64),
        "versions": dict(zip(names(versions), (str(v) for v in versions), strict=True)),
    }
