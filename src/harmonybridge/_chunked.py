"""Cells in chunks for the ``dask`` engine: read lazily, corrected, written chunk by chunk.

Where the cells come from (:func:`open_cells`):

- an AnnData in memory: ``obsm[basis]`` wrapped with ``da.from_array``, chunked by cells;
- an AnnData zarr store (``adata.write_zarr``): ``obsm[basis]`` read lazily from the store, and the
  batch columns' category codes lazily from ``obs/<key>/codes``. A batch column stored as plain
  values (strings or numbers, not categories) is the one thing read whole on the client, then
  factorized (its codes are 1-2 bytes per cell);
- an ``.h5ad``: the same, read by h5py in chunks (each chunk opens the file by path, so worker
  processes on other machines can read it from a shared filesystem).

Where the corrected cells go (:func:`write_store`): a zarr store that ``anndata.read_zarr``
reads, with everything the input had (a zarr input is copied file by file; an ``.h5ad`` element by
element, numeric arrays in slabs of rows; X is never loaded whole) plus ``obsm[key_added]``,
written chunk by chunk by the workers, and ``uns['harmony']``. The store is built beside the
output under a temporary name and renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from anndata import AnnData

from . import _check, _io
from ._compat import pkg_version
from ._params import HarmonyParams

logger = logging.getLogger("harmonybridge")

STORE = ".zarr"
#: rows copied at once when an .h5ad's numeric arrays are copied into the output store
SLAB_BYTES = 64 * 2**20
_ARRAY_ATTRS = {"encoding-type": "array", "encoding-version": "0.2.0"}


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


def _check_codes(cells: Cells, path: Path | None) -> None:
    """Every cell labelled and at least two batches per covariate (one pass over the small codes)."""
    import dask

    missing = dask.compute(*[(cells.codes[:, i] < 0).sum() for i in range(len(cells.keys))])
    where = _where(path) if path is not None else "the AnnData"
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
        msg = f"input {_where(path)} is a zarr store but not an AnnData one (no anndata encoding); write it with adata.write_zarr(path)"
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
    return _cells(Z, parts, keys, "zarr", path, chunk)


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
            msg = f"obsm[{basis!r}] of {_where(path)} is not a dense array (it is stored as a {obsm[basis].attrs.get('encoding-type')})"
            raise TypeError(msg)
        columns = _obs_columns(f["obs"])
        for key in keys:
            if key not in columns:
                raise _missing_key(path, key, columns)
        Z = lazy(f"obsm/{basis}", obsm[basis])
        parts = [_codes_from_group(f["obs"][key], path, key, lazy) for key in keys]
    return _cells(Z, parts, keys, "h5ad", path, chunk)


def _open_anndata(adata: AnnData, keys: list[str], basis: str, chunk: int) -> Cells:
    import dask.array as da

    keys = _check.batch_keys(adata, keys)
    Z = _check.embedding(adata, basis)
    frame = _check.batch_frame(adata, keys)
    parts = []
    for key in keys:
        codes = frame[key].astype("category").cat
        parts.append((da.from_array(np.asarray(codes.codes)), len(codes.categories)))
    return _cells(da.from_array(Z, chunks=(chunk, -1)), parts, keys, "anndata", None, chunk)


def _cells(Z: Any, parts: list, keys: list[str], kind: str, path: Path | None, chunk: int) -> Cells:
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
    _check_codes(cells, path)
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


# --- writing ---------------------------------------------------------------------------------


def check_store_output(out: str | os.PathLike, source: Any = None) -> Path:
    """A ``.zarr`` output path that can be written (checked before any work)."""
    out = Path(out)
    if out.suffix.lower() != STORE:
        msg = f"output {_where(out)} must end in {STORE} (the dask engine writes a zarr store)"
        raise ValueError(msg)
    if out.exists() and not out.is_dir():
        msg = f"cannot write {_where(out)}: it is a file; choose another path"
        raise FileExistsError(msg)
    if source is not None and not isinstance(source, AnnData) and out.resolve() == Path(source).resolve():
        msg = f"output {_where(out)} is the input store; choose another path"
        raise ValueError(msg)
    _io.check_folder(out.parent, out)
    return out


@contextlib.contextmanager
def atomic_store(out: Path) -> Iterator[Path]:
    """Yield a temporary store path beside ``out``; it replaces ``out`` only if the block succeeds."""
    folder = out.parent if str(out.parent) else Path(".")
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=folder))
    tmp = work / out.name
    try:
        yield tmp
        if out.exists():
            os.replace(out, work / "replaced")
        os.replace(tmp, out)
    except BaseException:
        if created:
            shutil.rmtree(work, ignore_errors=True)
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _json_attrs(attrs: Any) -> dict:
    return {k: (v.tolist() if isinstance(v, np.ndarray | np.generic) else v) for k, v in dict(attrs).items()}


def _copy_h5_to_zarr(src: Any, dst: Any) -> None:
    """An HDF5 group into a zarr group: numeric arrays in slabs of rows, the rest through anndata."""
    import h5py
    from anndata.io import read_elem, write_elem

    for name, node in src.items():
        if isinstance(node, h5py.Group):
            if node.attrs.get("encoding-type") in ("dataframe", "categorical", "nullable-integer", "nullable-boolean"):
                write_elem(dst, name, read_elem(node))  # cell or gene annotations: small beside X
                continue
            child = dst.create_group(name)
            child.attrs.update(_json_attrs(node.attrs))
            _copy_h5_to_zarr(node, child)
        elif node.dtype.kind in "biuf" and node.ndim >= 1:
            rows = max(1, SLAB_BYTES // max(1, node.dtype.itemsize * int(np.prod(node.shape[1:]))))
            arr = dst.create_array(
                name, shape=node.shape, dtype=node.dtype, chunks=(min(rows, max(1, node.shape[0])),) + node.shape[1:]
            )
            arr.attrs.update(_json_attrs(node.attrs))
            for start in range(0, node.shape[0], rows):
                arr[start : start + rows] = node[start : start + rows]
        else:  # strings, scalars
            write_elem(dst, name, read_elem(node))


def _skeleton(cells: Cells, tmp: Path, adata: AnnData | None, zarr_format: int) -> None:
    """Everything of the input but the corrected embedding, into the new store."""
    import zarr

    if cells.kind == "zarr":
        shutil.copytree(cells.path, tmp, symlinks=True)
    elif cells.kind == "h5ad":
        import h5py

        root = zarr.open_group(os.fspath(tmp), mode="w", zarr_format=zarr_format)
        with h5py.File(cells.path, "r") as f:
            root.attrs.update(_json_attrs(f.attrs))
            _copy_h5_to_zarr(f, root)
    else:
        import anndata as ad

        with ad.settings.override(zarr_write_format=zarr_format):
            adata.write_zarr(tmp)


def _store_format(cells: Cells) -> int:
    import anndata as ad

    if cells.kind == "zarr":
        return 3 if (cells.path / "zarr.json").exists() else 2
    return int(ad.settings.zarr_write_format)


def write_store(
    cells: Cells,
    corrected: Any,
    out: Path,
    record: dict,
    *,
    key_added: str,
    adata: AnnData | None = None,
) -> Path:
    """The output store: the input's fields, ``obsm[key_added]`` written chunk by chunk, ``uns['harmony']``."""
    import dask.array as da
    import zarr
    from anndata.io import write_elem

    fmt = _store_format(cells)
    with atomic_store(out) as tmp:
        t0 = time.perf_counter()
        _skeleton(cells, tmp, adata, fmt)
        logger.info("copied the input's fields into %s in %.1f s", out.name, time.perf_counter() - t0)
        root = zarr.open_group(os.fspath(tmp), mode="r+", zarr_format=fmt, use_consolidated=False)
        obsm = root["obsm"] if "obsm" in root else root.create_group("obsm")
        if key_added in obsm:
            del obsm[key_added]
        rows = int(corrected.chunks[0][0])
        corrected = corrected.rechunk((rows, -1))
        target = obsm.create_array(
            key_added, shape=corrected.shape, dtype=corrected.dtype, chunks=(rows, corrected.shape[1])
        )
        target.attrs.update(_ARRAY_ATTRS)
        t0 = time.perf_counter()
        da.store(corrected, target, lock=False)
        logger.info("wrote obsm[%r] chunk by chunk in %.1f s", key_added, time.perf_counter() - t0)
        uns = root["uns"] if "uns" in root else root.create_group("uns")
        if "harmony" in uns:
            del uns["harmony"]
        write_elem(uns, "harmony", record)
        zarr.consolidate_metadata(os.fspath(tmp), zarr_format=fmt)
    return out


# --- the run ---------------------------------------------------------------------------------


def _record(result_trace: dict, params: HarmonyParams, cells: Cells, sched: Any, **fields: Any) -> dict:
    from .engines import EngineResult

    versions = {name: pkg_version(name) or "" for name in ("dask", "distributed", "zarr")}
    result = EngineResult(
        embedding=np.empty((0, 0)),
        engine="dask",
        versions=versions,
        objective=np.asarray(result_trace["objective"], dtype=np.float64),
        kmeans_rounds=np.asarray(result_trace["kmeans_rounds"], dtype=np.int64),
        objective_kmeans=np.asarray(result_trace["objective_kmeans"], dtype=np.float64),
        seconds=float(result_trace["seconds"]),
        params=params,
    )
    record = result.record()
    record.update(fields)
    record["chunking"] = {
        "chunk_cells": int(result_trace.get("chunk_cells", cells.Z.chunks[0][0])),
        "n_chunks": int(result_trace.get("n_chunks", len(cells.Z.chunks[0]))),
        "n_cells": cells.n_obs,
    }
    record["scheduler"] = sched.record()
    record["input"] = cells.kind if cells.path is None else str(cells.path)
    return record


def _log_progress(info: dict) -> None:
    logger.info(
        "harmony (dask): iteration %d/%d, objective %.6g, %.1f s, %.0f cells/s",
        info["iteration"], info["max_iter"], info["objective"], info["elapsed"], info["cells_per_second"],
    )  # fmt: skip


def run_store(
    source: AnnData | str | os.PathLike,
    out: str | os.PathLike,
    batch_key: str | Sequence[str],
    params: HarmonyParams,
    *,
    basis: str = "X_pca",
    key_added: str = "X_pca_harmony",
    scheduler: Any = None,
    scratch: str | os.PathLike | None = None,
    verbose: bool = False,
) -> dict:
    """Harmony by the dask engine from ``source`` into the zarr store ``out``; returns ``uns['harmony']``.

    ``scratch``: where the engine keeps its working copies of the cells (three times the
    embedding's size); default beside ``out`` (a cluster's workers must all see it).
    """
    from ._scheduler import check_scheduler, use_scheduler
    from .engines._dask import CHUNK_CELLS, cleanup_scratch, harmonize

    out = check_store_output(out, source)
    check_scheduler(scheduler)
    chunk = int(params.chunk_cells or CHUNK_CELLS)
    cells = open_cells(source, batch_key, basis, chunk)
    resolved = params.resolve(cells.n_obs, len(cells.keys))
    logger.info(
        "%d cells x %d PCs from %s, %d chunks of %d cells, batch %s",
        cells.n_obs, cells.Z.shape[1], cells.path or "memory", len(cells.Z.chunks[0]), chunk, cells.keys,
    )  # fmt: skip
    scratch_dir = Path(scratch) if scratch is not None else (out.parent if str(out.parent) else Path("."))
    scratch_dir.mkdir(parents=True, exist_ok=True)
    in_memory = isinstance(source, AnnData)
    with use_scheduler(scheduler, n_cells=cells.n_obs, ncores=int(resolved.ncores), in_memory=in_memory) as sched:
        corrected, trace = harmonize(
            cells.Z,
            cells.codes,
            cells.n_levels,
            resolved,
            scratch=scratch_dir,
            client=sched.client,
            verbose=verbose,
            progress=None if verbose else _log_progress,
        )
        try:
            record = _record(
                trace, resolved, cells, sched, backend="dask", batch_key=cells.keys, basis=basis, key_added=key_added
            )
            write_store(cells, corrected, out, record, key_added=key_added, adata=source if in_memory else None)
        finally:
            cleanup_scratch(trace)
    logger.info("wrote %s", out)
    return record


def describe(record: dict) -> str:
    """One line about a finished run, for the command line."""
    s = record["scheduler"]
    where = "threads" if s["kind"] == "threads" else f"{s['workers']} workers at {s['address']}"
    chunking = record["chunking"]
    return (
        f"dask: obsm[{record['key_added']!r}] {chunking['n_cells']} cells in {chunking['n_chunks']} chunks of "
        f"{chunking['chunk_cells']}; {record['n_iter']} iterations, converged={bool(record['converged'])}, "
        f"{record['seconds']:.1f} s ({where})"
    )


__all__ = ["Cells", "check_store_output", "describe", "open_cells", "run_store", "write_store"]
