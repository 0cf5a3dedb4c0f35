"""scale.data for Seurat's projections, when the AnnData has a PCA but no scaled data.

Every Seurat object that has a PCA has ``scale.data`` (RunPCA reads it), and R's standard calls
rely on it: ``harmony::RunHarmony(obj, "batch")`` and ``RunHarmonyPy`` end with
``ProjectDim``, which multiplies ``scale.data`` by the new embedding and stops with
"non-conformable arguments" when it is empty. scanpy keeps the scaled matrix nowhere (its PCA
scales a copy, or overwrites X), so ``to_seurat`` adds the ``scale.data`` that Seurat's own
``ScaleData(obj, features = <the PCA's features>)`` computes from ``data`` (each feature centred,
divided by its standard deviation, values above 10 clipped, constant features 0), over the
features the PCA used (those with non-zero loadings in ``varm['PCs']``, else the highly
variable ones). The record marks it as added, so ``from_seurat`` leaves it out again, and the
log says so. Above :data:`MAX_VALUES` values it is not added (logged: RunHarmony then needs
``project.dim = FALSE``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from harmonybridge import _rbridge

#: The largest scale.data added (features x cells), 2e8 doubles = 1.6 GB in R.
MAX_VALUES = 200_000_000
SCALE_MAX = 10.0


def projection_features(adata: AnnData) -> np.ndarray | None:
    """Positions of the PCA's features: non-zero rows of ``varm['PCs']``, else ``var['highly_variable']``."""
    pcs = adata.varm.get("PCs") if "PCs" in adata.varm else None
    if pcs is not None and np.ndim(pcs) == 2 and np.shape(pcs)[0] == adata.n_vars:
        used = np.flatnonzero(np.any(np.asarray(pcs) != 0, axis=1))
        if len(used):
            return used
    if "highly_variable" in adata.var.columns:
        used = np.flatnonzero(adata.var["highly_variable"].to_numpy(dtype=bool, na_value=False))
        if len(used):
            return used
    return None


def scale_like_seurat(X: Any, features: np.ndarray) -> np.ndarray:
    """ScaleData's result (cells x features, float64) for ``X``'s columns ``features``."""
    sub = X[:, features]
    dense = np.asarray(sub.toarray() if sp.issparse(sub) else sub, dtype=np.float64)
    with np.errstate(all="ignore"):  # NaN and infinities in X: those features scale to 0, silently as in R
        mean = dense.mean(axis=0)
        sd = dense.std(axis=0, ddof=1) if dense.shape[0] > 1 else np.zeros(dense.shape[1])
        out = (dense - mean) / sd
    out[~np.isfinite(out)] = 0.0
    np.minimum(out, SCALE_MAX, out=out)
    return out


def process_projection_scale(adata: AnnData, plan: list[dict[str, Any]], scale: Any, t: Any) -> Any:
    """``scale`` as given, or (a PCA and no scale.data) the one ScaleData makes over the PCA's features."""
    from ._matrices import r_matrix

    if scale is not None or not plan or adata.n_obs < 2:
        return scale
    features = projection_features(adata)
    if features is None:
        t.log.add(
            "note",
            "scale.data",
            "not added",
            reason="no varm['PCs'] or var['highly_variable'] names the PCA's features; "
            "R's RunHarmony needs project.dim = FALSE",
        )
        return None
    if len(features) * adata.n_obs > MAX_VALUES:
        t.log.add(
            "note",
            "scale.data",
            "not added",
            reason=f"{len(features)} features x {adata.n_obs} cells is too large; "
            "R's RunHarmony needs project.dim = FALSE",
        )
        return None
    X = adata.X
    if X is None or np.dtype(getattr(X, "dtype", np.float64)).kind not in "biuf":
        return None
    names = pd.Index(adata.var_names.astype(str))[features].tolist()
    matrix = scale_like_seurat(X, features)
    t.rec.scale_data = {"where": "added", "features": names}
    t.log.add(
        "added",
        "scale.data",
        f"ScaleData over the PCA's {len(features)} features",
        "scale.data",
        "ProjectDim (RunHarmony, RunHarmonyPy) reads it; from_seurat leaves it out",
    )
    return r_matrix(matrix, _rbridge.r_strings([t.features[p] for p in features]), t.cells_r, "scale.data")


def partial_scale_data(fields: dict[str, Any], var: pd.DataFrame, features: list[str], cells_r: Any, name: str) -> Any:
    """Another assay's scale.data over some features (its ``uns['seurat']['scale.data']``), or None."""
    from ._matrices import r_matrix

    sd = ((fields.get("uns") or {}).get("seurat") or {}).get("scale.data")
    if not (isinstance(sd, dict) and "features" in sd and "data" in sd):
        return None
    pos = pd.Index(var.index.astype(str)).get_indexer([str(x) for x in np.asarray(sd["features"])])
    if (pos < 0).any():
        return None
    rows = _rbridge.r_strings([features[i] for i in pos])
    return r_matrix(np.asarray(sd["data"]), rows, cells_r, f"assay {name} scale.data")
