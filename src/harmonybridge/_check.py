"""Input checks shared by every entry point. They never modify the AnnData."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from ._compat import warn

MIN_CELLS = 6
#: A batch with fewer cells than this gets a warning: Harmony estimates its correction in every cluster
#: from the batch's own cells, and a handful of cells gives a correction that is mostly noise.
MIN_CELLS_PER_BATCH = 10
#: A numeric batch column with more levels than this (and than 10% of cells) looks continuous.
CONTINUOUS_LEVELS = 50


def key_list(batch_key: str | Sequence[str]) -> list[str]:
    """``batch_key`` as a list of distinct column names (one name or a sequence of them)."""
    keys = [batch_key] if isinstance(batch_key, str) else list(batch_key) if isinstance(batch_key, Sequence) else None
    if not keys or not all(isinstance(k, str) for k in keys):
        msg = f"batch_key must be an obs column name or a list of them, got {batch_key!r}"
        raise TypeError(msg)
    if len(set(keys)) != len(keys):
        msg = f"batch_key lists a column twice: {keys}"
        raise ValueError(msg)
    return keys


def batch_keys(adata: AnnData, batch_key: str | Sequence[str]) -> list[str]:
    """``batch_key`` as a list of existing ``obs`` columns."""
    if not isinstance(adata, AnnData):
        msg = f"expected an AnnData, got {type(adata).__name__}"
        raise TypeError(msg)
    keys = key_list(batch_key)
    missing = [k for k in keys if k not in adata.obs.columns]
    if missing:
        msg = f"batch key {missing[0]!r} not in adata.obs; available columns: {list(map(str, adata.obs.columns))}"
        raise KeyError(msg)
    return keys


def batch_frame(adata: AnnData, keys: list[str]) -> pd.DataFrame:
    """The batch columns, checked: labels everywhere, at least two batches, categorical-looking."""
    frame = adata.obs[keys].copy()
    for key in keys:
        col = frame[key]
        n_missing = int(col.isna().sum())
        if n_missing:
            msg = (
                f"adata.obs[{key!r}] has {n_missing} cells with missing labels; label them or drop them first, "
                f"e.g. adata = adata[adata.obs[{key!r}].notna()].copy()"
            )
            raise ValueError(msg)
        levels = col.nunique()
        if levels < 2:
            only = col.iloc[0] if len(col) else None
            msg = f"adata.obs[{key!r}] has one batch only ({only!r}): there is nothing to integrate"
            raise ValueError(msg)
        numeric = pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype)
        if numeric and levels > CONTINUOUS_LEVELS and levels > 0.1 * len(col):
            warn(
                f"adata.obs[{key!r}] is numeric with {levels} distinct values: it looks continuous, but Harmony "
                f"treats every value as its own batch. Convert it to categories if that is what you mean "
                f"(adata.obs[{key!r}] = adata.obs[{key!r}].astype('category'))."
            )
            continue  # one warning is enough: its tiny "batches" are the symptom
        sizes = col.value_counts()
        small = sizes[(sizes > 0) & (sizes < MIN_CELLS_PER_BATCH)].sort_values()
        if len(small):
            shown = ", ".join(
                f"{str(name)!r} ({int(n)} cell{'s' if n != 1 else ''})" for name, n in small.iloc[:5].items()
            )
            more = f" and {len(small) - 5} more" if len(small) > 5 else ""
            warn(
                f"adata.obs[{key!r}] has {len(small)} batch(es) with fewer than {MIN_CELLS_PER_BATCH} cells: "
                f"{shown}{more}. "
                "Harmony corrects each batch from its own cells, so their correction rests on too few cells; merge "
                "them with a similar batch or drop them "
                f"(adata = adata[adata.obs[{key!r}] != {str(small.index[0])!r}].copy())."
            )
    return frame


def embedding(adata: AnnData, basis: str) -> np.ndarray:
    """``adata.obsm[basis]`` as a 2-D finite array (not copied)."""
    if basis not in adata.obsm:
        hint = " Run sc.pp.pca(adata) first." if basis == "X_pca" else ""
        msg = f"{basis!r} not in adata.obsm; available: {list(adata.obsm.keys())}.{hint}"
        raise KeyError(msg)
    Z = adata.obsm[basis]
    if isinstance(Z, pd.DataFrame):
        Z = Z.to_numpy()
    Z = np.asarray(Z)
    if Z.ndim != 2 or Z.shape[1] < 2:
        msg = f"adata.obsm[{basis!r}] must be cells x components with at least 2 components, got shape {Z.shape}"
        raise ValueError(msg)
    if Z.dtype.kind not in "fiu":
        msg = f"adata.obsm[{basis!r}] must be numeric, got dtype {Z.dtype}"
        raise TypeError(msg)
    if np.isfinite(Z).all():  # the common case, one pass; the per-cell check only to name culprits
        return Z
    bad = ~np.isfinite(Z).all(axis=1)
    if bad.any():
        first = adata.obs_names[np.flatnonzero(bad)[0]]
        msg = (
            f"adata.obsm[{basis!r}] has NaN or inf in {int(bad.sum())} cells (first: {first!r}); "
            "recompute the PCA or drop those cells"
        )
        raise ValueError(msg)
    return Z


def n_cells(adata: AnnData) -> int:
    """The number of cells, at least MIN_CELLS."""
    if adata.n_obs < MIN_CELLS:
        msg = f"Harmony needs at least {MIN_CELLS} cells, got {adata.n_obs}"
        raise ValueError(msg)
    return adata.n_obs


def cells_for_neighbors(n_cells: int, k: int, what: str = "neighbours") -> None:
    """Refuse fewer than k + 1 cells for a k-nearest-neighbour step."""
    if n_cells <= k:
        msg = f"{n_cells} cells are too few for {k} {what}; need at least {k + 1} (or lower the number of neighbours)"
        raise ValueError(msg)


def obs_key(adata: AnnData, key: str, what: str = "label key") -> pd.Series:
    """An existing obs column with at least two levels and no missing values."""
    if key not in adata.obs.columns:
        msg = f"{what} {key!r} not in adata.obs; available columns: {list(map(str, adata.obs.columns))}"
        raise KeyError(msg)
    col = adata.obs[key]
    if col.isna().any():
        msg = f"adata.obs[{key!r}] has {int(col.isna().sum())} missing values; fill or drop them first"
        raise ValueError(msg)
    if col.nunique() < 2:
        msg = f"adata.obs[{key!r}] has one level only; a {what} needs at least two"
        raise ValueError(msg)
    return col
