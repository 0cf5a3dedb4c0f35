"""Cells in chunks for the ``dask`` engine, read lazily (the output side is :mod:`._store`).

- an AnnData in memory: ``obsm[basis]`` wrapped with ``da.from_array``, chunked by cells;
- an AnnData zarr store (``adata.write_zarr``): ``obsm[basis]`` read lazily from the store, and the
  batch columns' category codes lazily from ``obs/<key>/codes``. A batch column stored as plain
  values (strings or numbers, not categories) is the one thing read whole on the client, then
  factorized (its codes are 1-2 bytes per cell);
- an ``.h5ad``: the same, read by h5py in chunks (each chunk opens the file by path, so worker
  processes on other machines can read it from a shared filesystem).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from anndata import AnnData

from harmonybridge._core import checks as _check
from harmonybridge._core import files as _io

logger = logging.getLogger("harmonybridge")

STORE = ".zarr"


# --- reading ---------------------------------------------------------------------------------


@dataclass
class Cells:
    """The cells of one input, lazily: the embedding and the batch codes, chunked by cells."""

    Z: Any  # dask.array (cells x PCs)
    codes: Any  # dask.array (cells x covariates), int, 0..n_levels-1
    n_levels: list[int]
    keys: list[str]
    kind: str  # "anndata", "zarr" or "h5ad"
    path: Path | None = None

    @property
    def n_obs(self) -> int:
        return int(self.Z.shape[0])


class H5Rows:
    """An ``.h5ad`` dataset as an array whose slices open the file by path (picklable to workers)."""

    def __init__(self, path: str | os.PathLike, name: str, shape: tuple[int, ...], dtype: np.dtype):
        self.path, self.name = os.fspath(path), name
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)

    def __getitem__(self, index):
        import h5py

        with h5py.File(self.path, "r") as f:
            return f[self.name][index]


def _where(path: Path) -> str:
    return f"{str(path)!r}"


def _available(group: Any) -> list[str]:
    return sorted(str(k) for k in group.keys())


def _cli() -> bool:
    return _check.voice().kind == "cli"


def _missing_basis(path: Path, basis: str, available: list[str]) -> KeyError:
    hint = " Compute a PCA first (scanpy: sc.pp.pca)." if basis == "X_pca" else ""
    flag = f"--basis {basis}" if _cli() else f"basis={basis!r}"
    msg = f"{flag}: {_where(path)} has no obsm[{basis!r}]; available: {available}.{hint}"
    return KeyError(msg)


def _missing_key(path: Path, key: str, available: list[str]) -> KeyError:
    flag = f"--batch {key}" if _cli() else f"batch key {key!r}"
    msg = f"{flag}: {key!r} is not a column of {_where(path)}; available columns: {available}"
    return KeyError(msg)


def _obs_columns(obs: Any) -> list[str]:
    order = obs.attrs.get("column-order", [])
    return [str(c) for c in (order.tolist() if isinstance(order, np.ndarray) else order)]


def _codes_from_group(node: Any, path: Path, key: str, lazy) -> tuple[Any, int]:
    """(codes, number of levels) of one obs column: lazily from a categorical's codes, else read whole."""
    import dask.array as da
    import pandas as pd
    from anndata.io import read_elem

    attrs = dict(node.attrs)
    if attrs.get("encoding-type") == "categorical":
        n_levels = int(node["categories"].shape[0])
        return lazy(f"obs/{key}/codes", node["codes"]), n_levels
    values = read_elem(node)  # plain strings or numbers: read on the client, factorized
    cat = pd.Categorical(np.asarray(values))
    return da.from_array(np.asarray(cat.codes)), len(cat.categories)


def _check_values(cells: Cells, path: Path | None, basis: str) -> None:
    """Every cell labelled, at least two batches per covariate, a finite embedding (one pass, chunk by chunk)."""
    import dask
    import dask.array as da

    bad = (~da.isfinite(cells.Z).all(axis=1)).sum() if np.dtype(cells.Z.dtype).kind == "f" else 0
    bad, *missing = dask.compute(bad, *[(cells.codes[:, i] < 0).sum() for i in range(len(cells.keys))])
    where = _where(path) if path is not None else "the AnnData"
    if bad:
        msg = f"obsm[{basis!r}] of {where} has NaN or inf in {int(bad)} cells; recompute the embedding or drop them"
        raise ValueError(msg)
    for key, n_missing, n_levels in zip(cells.keys, missing, cells.n_levels, strict=True):
        if n_missing:
            msg = f"column {key!r} of {where} has {int(n_missing)} cells with missing labels; label or drop them first"
            raise ValueError(msg)
        if n_levels < 2:
            msg = f"column {key!r} of {where} has one batch only: there is nothing to integrate"
            raise ValueError(msg)


def _open_zarr(path: Path, keys: list[str], basis: str, chunk: int) -> Cells:
    import dask.array as da
    import zarr

    try:
        root = zarr.open_group(os.fspath(path), mode="r")
    except (FileNotFoundError, ValueError, KeyError, TypeError) as err:
        msg = f"input {_where(path)} is not a zarr store ({err}); write one with adata.write_zarr(path)"
        raise ValueError(msg) from err
    if root.attrs.get("encoding-type") != "anndata" or "obs" not in root:
        msg = (
            f"input {_where(path)} is a zarr store but not an AnnData one (no anndata encoding); "
            "write it with adata.write_zarr(path)"
        )
        raise ValueError(msg)
    obsm = root["obsm"] if "obsm" in root else {}
    if basis not in obsm:
        raise _missing_basis(path, basis, _available(obsm) if obsm else [])
    columns = _obs_columns(root["obs"])
    for key in keys:
        if key not in columns:
            raise _missing_key(path, key, columns)

    def lazy(component: str, node: Any):
        return da.from_zarr(os.fspath(path), component=component, chunks=(chunk,) + node.shape[1:])

    Z = lazy(f"obsm/{basis}", obsm[basis])
    parts = [_codes_from_group(root["obs"][key], path, key, lazy) for key in keys]
    return _cells(Z, parts, keys, "zarr", path, basis)


def _open_h5ad(path: Path, keys: list[str], basis: str, chunk: int) -> Cells:
    import dask.array as da
    import h5py

    def lazy(component: str, node: Any):
        rows = H5Rows(path, component, node.shape, node.dtype)
        return da.from_array(rows, chunks=(chunk,) + node.shape[1:], name=f"h5ad-{path}-{component}-{chunk}")

    with h5py.File(path, "r") as f:
        obsm = f["obsm"] if "obsm" in f else {}
        if basis not in obsm:
            raise _missing_basis(path, basis, _available(obsm) if obsm else [])
        if not isinstance(obsm[basis], h5py.Dataset):
            kind = obsm[basis].attrs.get("encoding-type")
            msg = f"obsm[{basis!r}] of {_where(path)} is not a dense array (it is stored as a {kind})"
            raise TypeError(msg)
        columns = _obs_columns(f["obs"])
        for key in keys:
            if key not in columns:
                raise _missing_key(path, key, columns)
        Z = lazy(f"obsm/{basis}", obsm[basis])
        parts = [_codes_from_group(f["obs"][key], path, key, lazy) for key in keys]
    return _cells(Z, parts, keys, "h5ad", path, basis)


def _open_anndata(adata: AnnData, keys: list[str], basis: str, chunk: int) -> Cells:
    import dask.array as da

    keys = _check.batch_keys(adata, keys)
    Z = _check.embedding(adata, basis)
    frame = _check.batch_frame(adata, keys)
    parts = []
    for key in keys:
        codes = frame[key].astype("category").cat
        parts.append((da.from_array(np.asarray(codes.codes)), len(codes.categories)))
    return _cells(da.from_array(Z, chunks=(chunk, -1)), parts, keys, "anndata", None, basis)


def _cells(Z: Any, parts: list, keys: list[str], kind: str, path: Path | None, basis: str) -> Cells:
    import dask.array as da

    if Z.ndim != 2 or Z.shape[1] < 2 or np.dtype(Z.dtype).kind not in "fiu":
        msg = f"the embedding must be numeric cells x components (at least 2), got shape {Z.shape}, dtype {Z.dtype}"
        raise ValueError(msg)
    n = int(Z.shape[0])
    if n < _check.MIN_CELLS:
        msg = f"Harmony needs at least {_check.MIN_CELLS} cells, got {n}"
        raise ValueError(msg)
    cols = []
    for (codes, _), key in zip(parts, keys, strict=True):
        if codes.shape[0] != n:
            msg = f"column {key!r} has {codes.shape[0]} values but the embedding has {n} cells"
            raise ValueError(msg)
        cols.append(codes.astype(np.int32).rechunk(Z.chunks[0]))
    cells = Cells(Z=Z, codes=da.stack(cols, axis=1), n_levels=[p[1] for p in parts], keys=keys, kind=kind, path=path)
    _check_values(cells, path, basis)
    return cells


def open_cells(source: AnnData | str | os.PathLike, keys: Sequence[str], basis: str, chunk_cells: int) -> Cells:
    """The cells of an AnnData, a zarr store or an ``.h5ad``, lazily, chunked by ``chunk_cells``."""
    keys = _check.key_list(keys)
    if isinstance(source, AnnData):
        return _open_anndata(source, keys, basis, chunk_cells)
    path = Path(source)
    if not path.exists():
        msg = f"input {_where(path)} does not exist"
        raise FileNotFoundError(msg)
    if path.suffix.lower() == STORE or path.is_dir():
        return _open_zarr(path, keys, basis, chunk_cells)
    return _open_h5ad(_io.check_input(path, (".h5ad",)), keys, basis, chunk_cells)


__all__ = ["Cells", "H5Rows", "open_cells"]
