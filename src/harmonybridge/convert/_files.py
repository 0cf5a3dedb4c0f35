"""Files: ``.rds`` (a Seurat object) through the converters, and ``.h5ad`` or ``.rds`` by extension."""

from __future__ import annotations

import os
from typing import Any, Literal

from anndata import AnnData

from harmonybridge import _io, _rbridge

from ._py2r import to_seurat
from ._r2py import from_seurat


def write_rds(
    adata: AnnData,
    path: str | os.PathLike,
    *,
    assay: str = "RNA",
    assay_version: Literal["v4", "v5"] | None = None,
    raw: Literal["assay", "drop"] = "assay",
    return_log: bool = False,
) -> Any:
    """Write ``adata`` as a Seurat object to an ``.rds`` file, atomically (see :func:`to_seurat`).

    Returns the path, or ``(path, ConversionLog)`` with ``return_log=True``.
    """
    path = _io.check_output(path, (".rds",))
    obj, log = to_seurat(adata, assay=assay, assay_version=assay_version, raw=raw, return_log=True)
    write_seurat(obj, path)
    return (path, log) if return_log else path


def read_rds(
    path: str | os.PathLike, *, assay: str | None = None, join_layers: bool = True, return_log: bool = False
) -> Any:
    """Read an ``.rds`` holding a Seurat object as an AnnData (see :func:`from_seurat`).

    Returns the AnnData, or ``(adata, ConversionLog)`` with ``return_log=True``.
    """
    obj = read_seurat(path)
    return from_seurat(obj, assay=assay, join_layers=join_layers, return_log=return_log)


def read_seurat(path: str | os.PathLike) -> Any:
    """The Seurat object (an rpy2 object) in an ``.rds``, unconverted."""
    path = _io.check_input(path, (".rds",))
    return _rbridge.read_rds(path)


def write_seurat(obj: Any, path: str | os.PathLike) -> Any:
    """Save a Seurat object (an rpy2 object) to an ``.rds``, atomically."""
    path = _io.check_output(path, (".rds",))
    with _io.atomic_path(path) as tmp:
        _rbridge.write_rds(obj, tmp, what=f"writing {str(path)!r}")
    return path


def read(path: str | os.PathLike) -> AnnData:
    """Read ``.h5ad`` or ``.rds`` (a Seurat object) by extension."""
    path = _io.check_input(path)
    if path.suffix.lower() == ".rds":
        return read_rds(path)
    return _io.read_h5ad(path)


def write(adata: AnnData, path: str | os.PathLike) -> Any:
    """Write ``.h5ad`` or ``.rds`` (a Seurat object) by extension, atomically."""
    path = _io.check_output(path)
    if path.suffix.lower() == ".rds":
        return write_rds(adata, path)
    return _io.write_h5ad(adata, path)
