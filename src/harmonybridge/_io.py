"""Files: clear errors about paths up front, atomic writes, ``.h5ad`` in and out.

``.rds`` files (Seurat objects) are read and written by :mod:`harmonybridge.convert`, which uses this module.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anndata as ad
from anndata import AnnData

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
READABLE = (".h5ad", ".rds")


def check_input(path: str | os.PathLike, allowed: tuple[str, ...] = READABLE) -> Path:
    """An existing file of a readable kind, or an error naming it and the fix."""
    path = Path(path)
    if not path.exists():
        msg = f"input file {str(path)!r} does not exist"
        raise FileNotFoundError(msg)
    if path.is_dir():
        msg = f"input {str(path)!r} is a directory, not a file ({' or '.join(allowed)})"
        raise IsADirectoryError(msg)
    suffix = path.suffix.lower()
    if suffix not in allowed:
        msg = f"input file {str(path)!r} is not {' or '.join(allowed)}; harmonybridge reads {', '.join(allowed)} files"
        raise ValueError(msg)
    if suffix == ".h5ad":
        with path.open("rb") as fh:
            head = fh.read(8)
        if head != _HDF5_MAGIC:
            msg = f"input file {str(path)!r} is not an h5ad file (no HDF5 signature); was it written by anndata?"
            raise ValueError(msg)
    return path


def check_output(path: str | os.PathLike, allowed: tuple[str, ...] = READABLE) -> Path:
    """An output path whose folder exists and is writable, checked before any work."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in allowed:
        msg = f"output file {str(path)!r} must end in {' or '.join(allowed)}"
        raise ValueError(msg)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        msg = f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist; create it first"
        raise FileNotFoundError(msg)
    if not os.access(folder, os.W_OK | os.X_OK):
        msg = f"cannot write {str(path)!r}: folder {str(folder)!r} is not writable; choose another --out"
        raise PermissionError(msg)
    if path.is_dir():
        msg = f"cannot write {str(path)!r}: it is a directory"
        raise IsADirectoryError(msg)
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=f".part{path.suffix}", dir=path.parent if str(path.parent) else "."
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_h5ad(adata: AnnData, path: str | os.PathLike) -> Path:
    """Write an ``.h5ad`` atomically (never a partial file at ``path``)."""
    path = check_output(path, (".h5ad",))
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)
    return path


def read_h5ad(path: str | os.PathLike) -> AnnData:
    """Read an ``.h5ad`` after checking it is one."""
    return ad.read_h5ad(check_input(path, (".h5ad",)))
