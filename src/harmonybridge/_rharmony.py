"""The R engine: ``harmony::RunHarmony`` through rpy2, with the same parameter object.

Only the embedding and the batch columns cross into R (not the AnnData), so the cost
scales with the embedding. The embedding crosses as one copy in harmony's own layout
(PCs x cells), and comes back the same way.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from . import _rbridge
from ._engines import EngineResult
from ._params import HarmonyParams

logger = logging.getLogger("harmonybridge")


def _batch_frame(meta: pd.DataFrame, keys: list[str]):
    """The batch columns as an R data.frame of factors whose levels are sorted as harmonypy sorts them."""
    ro = _rbridge.robjects()
    columns = {}
    for key in keys:
        col = meta[key]
        values = col.astype(str) if not isinstance(col.dtype, pd.CategoricalDtype) else col.cat.remove_unused_categories()
        cat = pd.Categorical(values)
        labels = np.asarray(cat.categories.astype(str))
        order = np.argsort(labels, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        columns[key] = _rbridge.factor(rank[cat.codes], labels[order])
    frame = ro.r["data.frame"](**columns, check_names=False, stringsAsFactors=False)
    return frame


def run_r(
    Z: np.ndarray, meta: pd.DataFrame, keys: list[str], params: HarmonyParams, *, verbose: bool
) -> EngineResult:
    """Harmony by R's harmony package; ``set.seed(random_state)`` first."""
    hb = _rbridge.hb()
    _rbridge.require("harmony")
    ro = _rbridge.robjects()
    n_cells, n_pcs = Z.shape
    if n_cells == n_pcs:
        msg = f"the embedding is square ({n_cells} x {n_pcs}); R harmony cannot tell cells from components. Use fewer PCs"
        raise ValueError(msg)
    r = params.to_r()
    args, opts = r["args"], r["options"]
    logger.info("harmony (r, R %s, harmony %s): %d cells x %d PCs, batch %s",
                _rbridge.r_version(), _rbridge.package_version("harmony"), n_cells, n_pcs, keys)  # fmt: skip
    start = time.perf_counter()
    embedding = _rbridge.float_matrix(Z, n_pcs, n_cells)
    frame = _batch_frame(meta, keys)
    out = _rbridge.call(
        hb.hb_run_harmony,
        embedding,
        frame,
        ro.StrVector(keys),
        theta=ro.FloatVector(args["theta"]),
        sigma=args["sigma"],
        nclust=args["nclust"],
        max_iter=args["max_iter"],
        ncores=args["ncores"],
        alpha=opts["alpha"],
        tau=opts["tau"],
        seed=r["seed"],
        verbose=verbose,
        what="harmony::RunHarmony",
        **{
            "lambda": ro.NULL if args["lambda"] is None else ro.FloatVector(args["lambda"]),
            "block.size": opts["block.size"],
            "max.iter.cluster": opts["max.iter.cluster"],
            "epsilon.cluster": opts["epsilon.cluster"],
            "epsilon.harmony": opts["epsilon.harmony"],
            "batch.prop.cutoff": opts["batch.prop.cutoff"],
        },
    )
    corrected = _rbridge.matrix_to_numpy(out.rx2("embedding"), np.float64)
    versions = dict(zip(out.rx2("versions").names, out.rx2("versions"), strict=True))
    seconds = time.perf_counter() - start
    result = EngineResult(
        embedding=corrected,
        engine="R harmony",
        versions={k: str(v) for k, v in versions.items()},
        objective=_rbridge.to_numpy(out.rx2("objective"), np.float64),
        kmeans_rounds=_rbridge.to_numpy(out.rx2("kmeans_rounds"), np.int64),
        objective_kmeans=_rbridge.to_numpy(out.rx2("objective_kmeans"), np.float64),
        seconds=seconds,
        params=params,
    )
    logger.info("harmony (r): %d iterations in %.1f s, converged=%s", result.n_iter, seconds, result.converged)
    return result


def reduction_name(obsm_key: str) -> str:
    """scanpy's obsm key -> Seurat's reduction name: X_pca -> pca, X_pca_harmony -> harmony, X_name -> name."""
    if obsm_key.startswith("X_pca_harmony"):  # X_pca_harmony_r -> harmony_r
        return "harmony" + obsm_key[len("X_pca_harmony") :]
    return obsm_key[2:] if obsm_key.startswith("X_") else obsm_key


def _r_strings(vec) -> list[str | None]:
    from ._convert import _py_strings

    values, na = _py_strings(vec)
    return [None if missing else str(v) for v, missing in zip(values, na, strict=True)]


def run_harmony_seurat(
    obj, batch_keys: list[str], params: HarmonyParams, *, backend: str, reduction: str = "pca",
    reduction_save: str = "harmony", project_dim: bool = True, verbose: bool = False,
):  # fmt: skip
    """Harmony on a Seurat object's reduction, by either engine; returns a new Seurat object.

    The result is what ``RunHarmony(obj, group.by.vars, reduction.use, reduction.save)`` gives:
    reduction ``reduction_save`` with key ``harmony_``, each column's stdev, the assay of
    ``reduction``, and ``ProjectDim`` loadings when the assay has scale.data. Only the
    embedding and the batch columns cross between R and Python. The run's record (engine,
    versions, parameters, iterations, objective) goes into ``Misc(obj, "harmony")`` as JSON.
    """
    import json

    from anndata import AnnData

    from ._harmony import _run_engine

    hb = _rbridge.hb()
    ro = _rbridge.robjects()
    emb = _rbridge.matrix_to_numpy(_rbridge.call(hb.hb_seurat_embedding, obj, reduction, what="reading the Seurat reduction"), np.float64)
    meta_r = _rbridge.call(hb.hb_seurat_meta, obj, ro.StrVector(batch_keys), what="reading the Seurat meta.data")
    obs = pd.DataFrame({k: pd.Categorical(_r_strings(meta_r.rx2(k))) for k in batch_keys})
    obs.index = obs.index.astype(str)
    cells = AnnData(obs=obs)
    cells.obsm["X_pca"] = emb
    result = _run_engine(cells, batch_keys, "X_pca", backend, params, verbose)
    record = result.record()
    record.update(backend=backend, batch_key=batch_keys, reduction=reduction, reduction_save=reduction_save)
    record_json = json.dumps(record, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))
    n, d = result.embedding.shape
    return _rbridge.call(
        hb.hb_seurat_add_harmony, obj, _rbridge.float_matrix(result.embedding, d, n), record=record_json,
        what="storing the harmony reduction", **{"reduction.use": reduction, "reduction.save": reduction_save,
                                                "project.dim": project_dim},
    )  # fmt: skip
