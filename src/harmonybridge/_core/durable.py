"""What makes a write durable and its failure clean: fsync before and after the rename, the
hidden ``.part`` files of runs that were killed, and an ``.h5ad`` written where HDF5's failure
on a full disk cannot take the process down.

HDF5 buffers metadata and flushes it when objects are freed; when that flush fails (no space
left, quota), h5py reports it as "Exception ignored" and the process can then crash in HDF5
(a segmentation fault at exit, measured with h5py 3 / HDF5 1.14). So on POSIX the ``.h5ad`` is
written by a forked child: the AnnData is shared copy-on-write (no copy, no pickling), and
whatever happens in HDF5 ends in the child; the parent gets one clean ``OSError``.
"""

from __future__ import annotations

import contextlib
import errno
import faulthandler
import os
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Any

#: A ``.part`` file is this package's when its name is ``.<target>.hb-<pid>-<random>.part<suffix>``.
PART_PREFIX = "hb-"
#: A stale ``.part`` is removed only when its writer is not running here and it has not changed for this long
#: (so a writer on another machine sharing the folder, still writing, keeps its file).
STALE_SECONDS = 15 * 60


def part_prefix(path: Path) -> str:
    """The prefix of the temporary files written for ``path``: ``.<name>.hb-<pid>-``."""
    return f".{path.name}.{PART_PREFIX}{os.getpid()}-"


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process: alive
    return True


def remove_stale_parts(path: Path, *, now: float | None = None) -> list[Path]:
    """Remove the ``.part`` files left for ``path`` by runs of this package that were killed.

    Only files named as :func:`part_prefix` names them, for this target, whose writer's pid is not
    a running process and which have not been modified for :data:`STALE_SECONDS`. Returns them.
    """
    folder = path.parent if str(path.parent) else Path(".")
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.{PART_PREFIX}(\d+)-[^/]*\.part{re.escape(path.suffix)}$")
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not entry.is_file(follow_symlinks=False) or now - st.st_mtime < STALE_SECONDS:
                continue
            if _pid_running(int(m.group(1))):
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def fsync_file(path: Path) -> None:
    """Flush ``path``'s data to the disk (a full disk or quota shows up here at the latest)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _write(adata: Any, tmp: Path, compression: str | None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata.write_h5ad(tmp, compression=compression)


def write_h5ad_isolated(adata: Any, tmp: Path, target: str, *, compression: str | None = None) -> None:
    """Write ``adata`` to ``tmp`` as an ``.h5ad``; any failure is one ``OSError`` (or the error anndata
    raised), never a crash of this process. On POSIX a forked child writes it; elsewhere this process."""
    # a backed AnnData's open HDF5 file would be shared with the child: written here, as before
    if not hasattr(os, "fork") or os.environ.get("HARMONYBRIDGE_NO_FORK") or getattr(adata, "isbacked", False):
        _write(adata, tmp, compression)
        return
    rfd, wfd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", DeprecationWarning
        )  # "multi-threaded, fork() may deadlock": the child only writes
        pid = os.fork()
    if pid == 0:  # the child: write, report, never return
        code = 0
        try:
            os.close(rfd)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)  # HDF5's own error stack and h5py's "Exception ignored" lines
            faulthandler.disable()  # a crash in HDF5 is reported by the parent, in one line
            errors: list[BaseException] = []
            sys.unraisablehook = lambda u: errors.append(u.exc_value)
            _write(adata, tmp, compression)
            if errors:
                raise errors[0]
            fsync_file(tmp)
        except BaseException as err:  # noqa: BLE001 - everything goes back to the parent as text
            code = 1
            no = getattr(err, "errno", None) or (errno.ENOSPC if "No space left" in str(err) else 0)
            os.write(wfd, f"{no}\n{type(err).__name__}: {err}".encode(errors="replace")[:4000])
        finally:
            os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as fh:
        report = fh.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return
    no_text, _, text = report.partition("\n")
    no = int(no_text) if no_text.strip().isdigit() else 0
    if not report and os.WIFSIGNALED(status):
        text = f"the writer was killed by signal {os.WTERMSIG(status)}"
    if no == errno.ENOSPC or _disk_full(tmp):
        raise OSError(errno.ENOSPC, "No space left on device (free some space or choose another folder)", target)
    if no in (errno.EDQUOT, errno.EFBIG):
        raise OSError(no, f"{os.strerror(no)} (free some space or choose another folder)", target)
    msg = f"writing {target!r} failed ({text.splitlines()[0] if text else 'no message'})"
    raise OSError(no or errno.EIO, msg)


def _disk_full(tmp: Path) -> bool:
    """Whether the folder of ``tmp`` has (almost) no space left."""
    try:
        st = os.statvfs(tmp.parent)
    except (OSError, AttributeError):
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024
