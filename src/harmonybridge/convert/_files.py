"""Files: ``.rds`` (a Seurat object) through the converters, and ``.h5ad`` or ``.rds`` by extension."""

from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from anndata import AnnData

from harmonybridge import _rbridge
from harmonybridge._core import checks as _check
from harmonybridge._core import files as _io

from . import _mudata
from ._py2r import to_seurat
from ._r2py import from_seurat

logger = logging.getLogger("harmonybridge")


def write_rds(
    adata: AnnData,
    path: str | os.PathLike,
    *,
    assay: str | None = None,
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
    path: str | os.PathLike,
    *,
    assay: str | None = None,
    join_layers: bool = True,
    mudata: bool = False,
    make_unique: bool = False,
    return_log: bool = False,
) -> Any:
    """Read an ``.rds`` holding a Seurat object (or an ``.RData``/``.rda`` holding exactly one) as an AnnData
    (see :func:`from_seurat`), or with ``mudata=True`` as a MuData with one modality per assay
    (see :func:`to_mudata`; needs ``pip install mudata``).

    Repeated cell names (an object built in R with names set by hand) are kept, or suffixed
    ``-1``, ``-2``, ... with ``make_unique=True``, as :func:`read` does.

    Returns the AnnData (or MuData), or ``(result, ConversionLog)`` with ``return_log=True``.
    """
    if mudata:
        _mudata.check_installed()
    obj = read_seurat(path)
    with warnings.catch_warnings():  # anndata's own warning of repeated names: the rule below deals with them
        warnings.filterwarnings("ignore", message=".*names are not unique", category=UserWarning)
        adata, log = from_seurat(obj, assay=assay, join_layers=join_layers, return_log=True)
    _repeated_names(adata, path, make_unique, log)
    out = _mudata.to_mudata(adata) if mudata else adata
    return (out, log) if return_log else out


#: What R says when an .rds/.RData file is cut short or is not one.
_DAMAGED = (
    "error reading from connection",
    "unknown input format",
    "magic number",
    "ReadItem",
    "unknown type",
    "input does not start with",
    "decompression",
    "incomplete",
    "corrupt",
)
SEURAT_FILES = (".rds", ".rdata", ".rda")


def _damaged_hint(path: Path, err: _rbridge.RError) -> Exception:
    """R's error for a file it cannot read, with a hint that the file looks damaged (else ``err`` itself)."""
    text = err.r_message or str(err)
    if not any(s in text for s in _DAMAGED):
        return err
    text = re.sub(r"^Error( in .+?)?\s*:\s*", "", text.strip())  # R's "Error in readRDS(path) : " prefix
    msg = (
        f"{str(path)!r} ({path.stat().st_size:,} bytes) could not be read by R ({text}): the file looks damaged or "
        "truncated (an interrupted copy or download?). Copy it again, or save it again from R with "
        "saveRDS(obj, 'file.rds')"
    )
    return _rbridge.RError(msg, r_message=err.r_message, r_output=err.r_output)


def read_seurat(path: str | os.PathLike) -> Any:
    """The Seurat object (an rpy2 object, unconverted) in an ``.rds``, or the only one in an ``.RData``/``.rda``.

    A damaged or truncated file gets a hint saying so; an ``.RData`` holding no Seurat object or
    several is refused with the list of what it holds.
    """
    path = _io.check_input(path, SEURAT_FILES)
    try:
        if path.suffix.lower() == ".rds":
            return _rbridge.read_rds(path)
        _rbridge.require("SeuratObject")
        held = _rbridge.load_rdata(path)
    except _rbridge.RError as err:
        raise _damaged_hint(path, err) from None
    seurat = [name for name, obj in held.items() if "Seurat" in _rbridge.rclass(obj)]
    if len(seurat) != 1:
        listing = ", ".join(f"{n} ({_rbridge.rclass(obj)[0]})" for n, obj in held.items()) or "nothing"
        how = (
            "save the one you want as an .rds in R: saveRDS(<name>, 'file.rds')"
            if seurat
            else "harmonybridge reads Seurat objects; in R, build one (e.g. CreateSeuratObject) and saveRDS() it"
        )
        msg = f"{str(path)!r} holds {len(seurat)} Seurat objects, not one: {listing}; {how}"
        raise ValueError(msg)
    return held[seurat[0]]


def seurat_cell_names(obj: Any, *, make_unique: bool) -> Any:
    """The rule of :func:`harmonybridge._core.checks.cell_names` on a Seurat object (an rpy2 object): repeated
    cell names refused, or with ``make_unique`` renamed in R (``RenameCells``) to the names
    :func:`read_rds` would give; returns the object (a new one when renamed)."""
    names = pd.Index(_rbridge.str_list(_rbridge.call(_rbridge.RFunction("base", "colnames"), obj, what="cell names")))
    if names.is_unique:
        return obj
    if not make_unique:
        _check.unique_cells(names)
    new = _check.make_unique(names)
    logger.info("%d repeated cell name(s) made unique (suffixes -1, -2, ...)", int(names.duplicated().sum()))
    rename = _rbridge.RFunction("SeuratObject", "RenameCells")
    return _rbridge.call(rename, obj, what="renaming repeated cells", **{"new.names": _rbridge.r_strings(list(new))})


def write_seurat(obj: Any, path: str | os.PathLike) -> Any:
    """Save a Seurat object (an rpy2 object) to an ``.rds``, atomically."""
    path = _io.check_output(path, (".rds",))
    with _io.atomic_path(path) as tmp:
        _rbridge.write_rds(obj, tmp, what=f"writing {str(path)!r}")
    return path


def read(path: str | os.PathLike, *, make_unique: bool = False) -> AnnData:
    """Read ``.h5ad``, or a Seurat object from ``.rds`` (or the only one in an ``.RData``/``.rda``), by extension.

    ``make_unique=True`` suffixes repeated cell names ``-1``, ``-2``, ... (anndata's
    ``obs_names_make_unique``) and logs how many; otherwise they are kept, and every step that
    needs one name per cell (Harmony, Seurat) refuses them up front.
    """
    path = _io.check_input(path)
    if path.suffix.lower() in SEURAT_FILES:
        return read_rds(path, make_unique=make_unique)
    with warnings.catch_warnings():  # anndata warns of repeats; they are dealt with below
        warnings.filterwarnings("ignore", message=".*names are not unique", category=UserWarning)
        adata = _io.read_h5ad(path)
    _repeated_names(adata, path, make_unique)
    return adata


def read_cells(path: str | os.PathLike, *, make_unique: bool, **rds: Any) -> Any:
    """:func:`read` (or with ``rds``, :func:`read_rds` with those arguments, returning its log too), then
    repeated cell names refused (:func:`harmonybridge._core.checks.cell_names`): what every command reads with."""
    if rds:
        adata, log = read_rds(path, make_unique=make_unique, return_log=True, **rds)
        _check.cell_names(adata, make_unique=make_unique)
        return adata, log
    adata = read(path, make_unique=make_unique)
    _check.cell_names(adata, make_unique=make_unique)
    return adata


def _repeated_names(adata: AnnData, path: str | os.PathLike, make_unique: bool, log: Any = None) -> None:
    """What every reader does with repeated cell names: :func:`harmonybridge._core.checks.cell_names` (kept, or
    suffixed with ``make_unique``), said in the log."""
    with warnings.catch_warnings():  # anndata warns of repeats while the names are set
        warnings.filterwarnings("ignore", message=".*names are not unique", category=UserWarning)
        n = _check.cell_names(adata, make_unique=make_unique, refuse=False)
    if n:
        logger.info("%s: %d repeated cell name(s) made unique (suffixes -1, -2, ...)", path, n)
        if log is not None:
            log.add("renamed", "cell names", f"{n} repeated", "suffixed -1, -2, ...", "--make-unique / make_unique")


def write(adata: AnnData, path: str | os.PathLike) -> Any:
    """Write ``.h5ad`` or ``.rds`` (a Seurat object) by extension, atomically; a MuData (see
    :func:`to_mudata`) as ``.h5mu`` or ``.rds``."""
    if _mudata.is_mudata(adata):
        path = _io.check_output(path, (".h5mu", ".rds"))
        if path.suffix.lower() == ".h5mu":
            with _io.atomic_path(path) as tmp:
                adata.write(tmp)
            return path
        return write_rds(adata, path)
    path = _io.check_output(path)
    if path.suffix.lower() == ".rds":
        return write_rds(adata, path)
    return _io.write_h5ad(adata, path)
