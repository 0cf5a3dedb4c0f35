"""Harmony on a Seurat object's reduction, by any engine: nothing is converted, and the embedding crosses
into Python only for a Python engine."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from harmonybridge import _rbridge
from harmonybridge._core import checks as _check

from .engines import HarmonyInput, run_engine
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
    scheduler: Any = None,
) -> Any:
    """Harmony on a Seurat object's reduction, by either engine; returns a new Seurat object.

    The result is what ``RunHarmony(obj, group.by.vars, reduction.use, reduction.save)`` gives:
    reduction ``reduction_save`` with key ``harmony_``, each column's stdev, the assay of
    ``reduction``, and ``ProjectDim`` loadings when the assay has scale.data. Only the batch
    columns cross into Python; the embedding crosses only to a Python engine (and back), and with
    ``backend="r"`` it never leaves R. The run's record (engine,
    versions, parameters, iterations, objective) goes into ``Misc(obj, "harmony")`` as JSON.
    """
    emb, cell_names = _rbridge.seurat_embedding(obj, reduction)  # left in R: the R engine runs on it there
    meta = _rbridge.seurat_meta(obj, batch_keys)
    numeric = _rbridge.seurat_numeric(obj, batch_keys)  # kept numeric: the same continuous-batch check as AnnData's
    obs = pd.DataFrame(
        {k: pd.to_numeric(pd.Series(meta[k])) if numeric.get(k) else pd.Categorical(meta[k]) for k in batch_keys}
    )
    obs.index = pd.Index(cell_names, dtype=str)  # errors name cells as Seurat does
    with _check.speaking(_check.Voice("seurat", reductions={"X_pca": reduction})):
        cells = HarmonyInput.check(emb, obs, batch_keys, "X_pca")
        result = run_engine(cells, backend, params, verbose=verbose, scheduler=scheduler)
        _check.converged(result.engine, result.convergence_warning())
    record = result.record()
    record.update(backend=backend, batch_key=batch_keys, reduction=reduction, reduction_save=reduction_save)
    record_json = json.dumps(record, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))
    return _rbridge.seurat_add_harmony(
        obj,
        result.embedding,  # still in R when R harmony ran
        record_json=record_json,
        reduction=reduction,
        reduction_save=reduction_save,
        project_dim=project_dim,
    )
