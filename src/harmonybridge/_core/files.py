"""Files: clear errors about paths up front, atomic writes, ``.h5ad`` in and out.

``.rds`` files (Seurat objects) are read and written by :mod:`harmonybridge.convert`, which uses this module.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import anndata as ad
from anndata import AnnData

from . import durable as _durable

logger = logging.getLogger("harmonybridge")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
READABLE = (".h5ad", ".rds", ".rdata", ".rda")
WRITABLE = (".h5ad", ".rds")


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


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_folder(folder: str | os.PathLike, target: str | os.PathLike | None = None) -> Path:
    """An output folder that exists and is writable, or that can be created (checked, not created).

    The rule for every command: a missing output folder is created, parents included, when the
    first file is written into it, after the input has been checked; it is refused before any
    work when something in the way is a file or is not writable.
    """
    folder = Path(folder) if str(folder) else Path(".")
    target = str(target if target is not None else folder)
    base = _nearest_existing(folder)
    if not base.is_dir():
        msg = f"cannot write {target!r}: {str(base)!r} is a file, not a folder; choose another path"
        raise NotADirectoryError(msg)
    if not os.access(base, os.W_OK | os.X_OK):
        msg = f"cannot write {target!r}: folder {str(base)!r} is not writable; choose another path"
        raise PermissionError(msg)
    return folder


def check_output(path: str | os.PathLike, allowed: tuple[str, ...] = WRITABLE) -> Path:
    """An output path that can be written (its folder exists and is writable, or can be created),
    checked before any work."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in allowed:
        msg = f"output file {str(path)!r} must end in {' or '.join(allowed)}"
        raise ValueError(msg)
    if path.is_dir():
        msg = f"cannot write {str(path)!r}: it is a directory"
        raise IsADirectoryError(msg)
    check_folder(path.parent, path)
    return path


def current_umask() -> int:
    """The process's umask (read from /proc where it can be, else set and restored at once)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


def _final_mode(path: Path) -> int:
    """The mode an output gets: that of the file it replaces, else what ``open()`` would give (0666 & ~umask)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


def _through_link(path: Path) -> Path:
    """A symbolic link's target (said on the log): an output written to a link replaces the file it points
    to and keeps the link, as writing to it in the shell does, rather than turning the link into a file."""
    if not path.is_symlink():
        return path
    target = path.resolve()
    logger.info("%s is a symbolic link: writing its target %s (the link is kept)", path, target)
    return target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    A symbolic link is written through: its target is replaced and the link kept (said on the log).
    The file is flushed to disk (fsync) before the rename and the folder after it. Hidden
    ``.part`` files that killed runs of this package left for ``path`` are removed first
    (see :func:`harmonybridge._core.durable.remove_stale_parts` for the rule).

    The file keeps the mode of the file it replaces, or gets the one the umask gives a new file
    (``tempfile.mkstemp`` makes 0600, which would hide results from colleagues). Missing folders
    on the way are created (parents included); if the block fails, the folders it created are
    removed again when empty.
    """
    path = _through_link(Path(path))
    folder = path.parent if str(path.parent) else Path(".")
    created = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        created.append(probe)
        probe = probe.parent
    folder.mkdir(parents=True, exist_ok=True)
    _durable.remove_stale_parts(path)
    fd, tmp = tempfile.mkstemp(prefix=_durable.part_prefix(path), suffix=f".part{path.suffix}", dir=folder)
    os.close(fd)
    tmp_path = Path(tmp)
    ok = False
    try:
        yield tmp_path
        os.chmod(tmp_path, _final_mode(path))
        _durable.fsync_file(tmp_path)  # the data on disk before the name points at it
        os.replace(tmp_path, path)
        _durable.fsync_folder(folder)
        ok = True
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
        if not ok:
            for made in created:  # innermost first
                with contextlib.suppress(OSError):
                    made.rmdir()


def write_h5ad(adata: AnnData, path: str | os.PathLike, *, compression: str | None = None) -> Path:
    """Write an ``.h5ad`` atomically (never a partial file at ``path``); ``compression="gzip"`` for a smaller file."""
    path = check_output(path, (".h5ad",))
    with atomic_path(path) as tmp:
        # anndata turns the caller's string columns into categoricals in place: put them back
        kept = None if adata.is_view else (adata.obs.copy(deep=False), adata.var.copy(deep=False))
        try:
            _durable.write_h5ad_isolated(adata, tmp, str(path), compression=compression)
        finally:
            if kept is not None:
                adata.obs, adata.var = kept
    return path


def read_h5ad(path: str | os.PathLike) -> AnnData:
    """Read an ``.h5ad`` after checking it is one."""
    return ad.read_h5ad(check_input(path, (".h5ad",)))
