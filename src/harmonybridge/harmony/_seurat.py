"""Harmony on a Seurat object's reduction, by either engine: only the reductions cross, nothing is converted."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from harmonybridge import _rbridge
from harmonybridge._core import checks as _check

from .engines import run_engine
from .params import HarmonyParams


def run_harmony_seurat(
    obj: Any,
    batch_keys: list[str],
    params: HarmonyParams,
    *,
    backend: str,
    reduction: str = "pca",
    reduction_save: str = "harmony",
    project_dim: bool = True,
    verbose: bool = False,
) -> Any:
    """Harmony on a Seurat object's reduction, by either engine; returns a new Seurat object.

    The result is what ``RunHarmony(obj, group.by.vars, reduction.use, reduction.save)`` gives:
    reduction ``reduction_save`` with key ``harmony_``, each column's stdev, the assay of
    ``reduction``, and ``ProjectDim`` loadings when the assay has scale.data. Only the
    embedding and the batch columns cross between R and Python. The run's record (engine,
    versions, parameters, iterations, objective) goes into ``Misc(obj, "harmony")`` as JSON.
    """
    emb, cell_names = _rbridge.seurat_embedding(obj, reduction)
    meta = _rbridge.seurat_meta(obj, batch_keys)
    numeric = _rbridge.seurat_numeric(obj, batch_keys)  # kept numeric: the same continuous-batch check as AnnData's
    obs = pd.DataFrame(
        {k: pd.to_numeric(pd.Series(meta[k])) if numeric.get(k) else pd.Categorical(meta[k]) for k in batch_keys}
    )
    obs.index = pd.Index(cell_names, dtype=str)  # errors name cells as Seurat does
    cells = AnnData(obs=obs)
    cells.obsm["X_pca"] = emb
    with _check.speaking(_check.Voice("seurat", reductions={"X_pca": reduction})):
        result = run_engine(cells, batch_keys, "X_pca", backend, params, verbose)
        _check.converged(result.engine, result.convergence_warning())
    record = result.record()
    record.update(backend=backend, batch_key=batch_keys, reduction=reduction, reduction_save=reduction_save)
    record_json = json.dumps(record, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))
    return _rbridge.seurat_add_harmony(
        obj,
        np.asarray(result.embedding),
        record_json=record_json,
        reduction=reduction,
        reduction_save=reduction_save,
        project_dim=project_dim,
    )
