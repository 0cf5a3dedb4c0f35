"""Reductions are the object's, whichever assay they were computed on.

In Seurat a reduction belongs to the object (``RunHarmony(obj, ...)`` finds ``obj[["pca"]]``
whatever the default assay), and records the assay it was computed on (``assay.used``). An
object whose default assay is SCT and whose PCA was computed on RNA gave an AnnData (the SCT
view) without ``X_pca``. Now every reduction is in ``adata.obsm``; one computed on another
assay is recorded in ``uns['seurat']['reduction_assays']`` (obsm key -> assay), its loadings and
stdev stay with that assay (``uns['seurat']['assays'][assay]``: its features are not the view's),
and ``to_seurat`` makes it again on that assay, so ``assay.used`` survives the round trip.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from harmonybridge import _rbridge

from ._log import ConversionLog

REDUCTION_ASSAYS = "reduction_assays"


def lift_reductions(adata: AnnData, seurat_uns: dict[str, Any], log: ConversionLog) -> None:
    """Move each other assay's reductions (``uns['seurat']['assays'][a]['obsm']``) into ``adata.obsm``."""
    homes: dict[str, str] = {}
    for assay, fields in (seurat_uns.get("assays") or {}).items():
        obsm = fields.get("obsm") or {}
        for key in list(obsm):
            if key in adata.obsm:  # the view's own reduction of that name wins; this one stays with its assay
                continue
            adata.obsm[key] = obsm.pop(key)
            homes[str(key)] = str(assay)
            log.add(
                "moved",
                f"Reductions({key})",
                f"computed on assay {assay!r}",
                f"obsm[{key!r}]",
                "reductions are the object's; uns['seurat']['reduction_assays'] keeps the assay",
            )
    if homes:
        seurat_uns[REDUCTION_ASSAYS] = homes


def assay_obsm(adata: AnnData, assay: str, obsm: dict[str, Any] | None) -> dict[str, Any] | None:
    """An assay's reductions: those stored with it and those ``adata.obsm`` keeps for it."""
    homes = (adata.uns.get("seurat") or {}).get(REDUCTION_ASSAYS) or {}
    out = dict(obsm or {})
    out |= {k: adata.obsm[k] for k, a in homes.items() if a == assay and k in adata.obsm}
    return out or None


def homed_reductions(
    plan: list[dict[str, Any]], homes: dict[str, str], assays: dict[str, Any], t: Any
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Split ``plan``: the entries made on the view's assay, and R items of those made on their own assay."""
    from ._names import feature_map

    rest, items = [], []
    for p in plan:
        home = homes.get(p["obsm"])
        if home is None or home not in assays or home == t.assay:
            rest.append(p)
            continue
        f = assays[home]
        value = p["value"]
        emb = np.asarray(value.toarray() if sp.issparse(value) else value, dtype=np.float64)
        columns = _rbridge.r_strings([f"{p['key']}{i + 1}" for i in range(emb.shape[1])])
        item: dict[str, Any] = {
            "name": _rbridge.r_strings([p["name"]]),
            "key": _rbridge.r_strings([p["key"]]),
            "assay": _rbridge.r_strings([home]),
            "embeddings": _rbridge.call(
                "hb_dense", _rbridge.r_double_columns(emb), *emb.shape, t.cells_r, columns, what="embedding"
            ),
        }
        varm = f.get("varm") or {}
        loadings = varm.get(p["name"], varm.get("PCs") if p["name"] == "pca" else None)
        var = f.get("var")
        if loadings is not None and isinstance(var, pd.DataFrame) and np.shape(loadings) == (len(var), emb.shape[1]):
            features, _ = feature_map(var.index, f"assay {home}")
            lv = np.asarray(loadings, dtype=np.float64)
            item["loadings"] = _rbridge.call(
                "hb_dense",
                _rbridge.r_double_columns(lv),
                *lv.shape,
                _rbridge.r_strings(features),
                columns,
                what="loadings",
            )
        stdev = (f.get("stdev") or {}).get(p["name"])
        if stdev is not None and len(stdev):
            item["stdev"] = _rbridge.r_double(np.asarray(stdev, dtype=np.float64))
        items.append(_rbridge.r_list(item))
        t.rec.obsm[p["name"]] = {"key": p["obsm"], "dtype": str(value.dtype), "sparse": bool(sp.issparse(value))}
    return rest, items
