"""The R half travels with the Python package and is installed or updated on first use.

The wheel carries the R package's sources as ``harmonybridge/_r`` (a checkout has them in
``r/``). When R is first asked for the R half and the installed one is missing or of another
version than the one shipped, it is installed with ``R CMD INSTALL`` into the first library on
R's ``.libPaths()`` that this user can write, else into ``R_LIBS_USER`` (created and put first
on the search path), and a log line says where. ``HARMONYBRIDGE_R_AUTOINSTALL=0`` turns this
off: the missing R half is then an error naming the command.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

logger = logging.getLogger("harmonybridge")

PACKAGE = "harmonybridge"


def source_dir() -> Path | None:
    """The R half's sources shipped with this Python package (wheel) or beside it (checkout)."""
    here = Path(__file__).resolve().parent.parent  # .../harmonybridge
    for candidate in (here / "_r", here.parent.parent / "r"):
        if (candidate / "DESCRIPTION").is_file() and (candidate / "NAMESPACE").is_file():
            return candidate
    return None


def shipped_version() -> str | None:
    """The Version field of the shipped R half's DESCRIPTION."""
    src = source_dir()
    if src is None:
        return None
    for line in (src / "DESCRIPTION").read_text().splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return None


def writable_library(lib_paths: list[str], user_library: str) -> Path:
    """The first library this user can write, else ``R_LIBS_USER`` (created)."""
    for lib in lib_paths:
        if os.access(lib, os.W_OK):
            return Path(lib)
    path = Path(os.path.expanduser(user_library))
    path.mkdir(parents=True, exist_ok=True)
    return path


def install(library: Path, r_home: str | None = None) -> None:
    """``R CMD INSTALL`` the shipped R half into ``library`` (from a copy: the source may be read-only)."""
    src = source_dir()
    if src is None:
        msg = "the R half's sources are not shipped with this harmonybridge (no harmonybridge/_r and no r/)"
        raise FileNotFoundError(msg)
    r = shutil.which("R") if r_home is None else str(Path(r_home) / "bin" / "R")
    if r is None:
        msg = "R not found on PATH; apt-get install r-base-dev"
        raise FileNotFoundError(msg)
    with tempfile.TemporaryDirectory(prefix="hb-rhalf-") as tmp:
        copy = Path(tmp) / PACKAGE
        shutil.copytree(src, copy, ignore=shutil.ignore_patterns("tests", "*.Rcheck"))
        proc = subprocess.run(
            [r, "CMD", "INSTALL", "--no-multiarch", "--no-test-load", "-l", str(library), str(copy)],
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        msg = f"installing the R half into {library} failed (R CMD INSTALL exit {proc.returncode}):\n{tail}"
        raise RuntimeError(msg)
