"""The ``dask`` engine's output: a zarr store written chunk by chunk, and the run from a path or an AnnData.

The output is a zarr store that ``anndata.read_zarr`` reads, with everything the input had (a
zarr input is copied file by file; an ``.h5ad`` element by element, numeric arrays in slabs of
rows, so X is never loaded whole) plus ``obsm[key_added]``, written chunk by chunk by the workers,
and ``uns['harmony']``. The store is built beside the output under a temporary name and renamed
into place only when complete; the client never holds the embedding whole.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from anndata import AnnData

from harmonybridge._core import files as _io
from harmonybridge._core.warnings import pkg_version

from ._chunked import STORE, Cells, open_cells
from .params import HarmonyParams

logger = logging.getLogger("harmonybridge")

#: rows copied at once when an .h5ad's numeric arrays are copied into the output store
SLAB_BYTES = 64 * 2**20
_ARRAY_ATTRS = {"encoding-type": "array", "encoding-version": "0.2.0"}


def _where(path: Path) -> str:
    return f"{str(path)!r}"


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
    with atomic_store(out) as tmp:
        _fill_store(cells, corrected, tmp, record, key_added=key_added, adata=adata)
    return out


def _fill_store(
    cells: Cells, corrected: Any, tmp: Path, record: dict, *, key_added: str, adata: AnnData | None
) -> None:
    """The new store at ``tmp`` (inside :func:`atomic_store`)."""
    import dask.array as da
    import zarr
    from anndata.io import write_elem

    fmt = _store_format(cells)
    t0 = time.perf_counter()
    _skeleton(cells, tmp, adata, fmt)
    logger.info("copied the input's fields into %s in %.1f s", tmp.name, time.perf_counter() - t0)
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
    with warnings.catch_warnings():  # zarr says consolidated metadata is not in the v3 spec; anndata reads it
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        zarr.consolidate_metadata(os.fspath(tmp), zarr_format=fmt)


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
    from .engines import CHUNK_CELLS, cleanup_scratch, harmonize

    out = check_store_output(out, source)
    check_scheduler(scheduler)
    chunk = int(params.chunk_cells or CHUNK_CELLS)
    cells = open_cells(source, batch_key, basis, chunk)
    resolved = params.resolve(cells.n_obs, len(cells.keys))
    logger.info(
        "%d cells x %d PCs from %s, %d chunks of %d cells, batch %s",
        cells.n_obs, cells.Z.shape[1], cells.path or "memory", len(cells.Z.chunks[0]), chunk, cells.keys,
    )  # fmt: skip
    in_memory = isinstance(source, AnnData)
    with (
        atomic_store(out) as tmp,  # its temporary folder beside out also holds the engine's scratch
        use_scheduler(scheduler, ncores=int(resolved.ncores)) as sched,
    ):
        corrected, trace = harmonize(
            cells.Z,
            cells.codes,
            cells.n_levels,
            resolved,
            scratch=scratch if scratch is not None else tmp.parent,
            client=sched.client,
            verbose=verbose,
            progress=None if verbose else _log_progress,
        )
        try:
            record = _record(
                trace, resolved, cells, sched, backend="dask", batch_key=cells.keys, basis=basis, key_added=key_added
            )
            _fill_store(cells, corrected, tmp, record, key_added=key_added, adata=source if in_memory else None)
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


__all__ = ["check_store_output", "describe", "run_store", "write_store"]
