"""The R half travels with the Python package and is installed or updated on first use.

The wheel carries the R package's sources as ``harmonybridge/_r`` (a checkout has them in
``r/``). When R is first asked for the R half and the installed one is missing or of another
version or built from other sources than the ones shipped (its DESCRIPTION records their
fingerprint, ``HarmonybridgeSource``: two checkouts of one version that share an R library
differ there), it is installed with ``R CMD INSTALL`` into the first library on
R's ``.libPaths()`` that this user can write, else into ``R_LIBS_USER`` (created and put first
on the search path), and a log line says where. ``HARMONYBRIDGE_R_AUTOINSTALL=0`` turns this
off: the missing R half is then an error naming the command.
"""

from __future__ import annotations

import hashlib
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


FIELD = "HarmonybridgeSource"


def fingerprint(src: Path) -> str:
    """12 hex digits of a hash of the R half's files (tests left out), path by path."""
    h = hashlib.sha1()
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = path.relative_to(src).as_posix()
        if rel.startswith("tests/") or ".Rcheck" in rel:
            continue
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def shipped_stamp() -> str | None:
    """What an up-to-date installed R half reports: ``<version> (source <fingerprint>)``."""
    version, src = shipped_version(), source_dir()
    return None if version is None or src is None else stamp(version, fingerprint(src))


def stamp(version: str, source: str | None) -> str:
    return f"{version} (source {source})" if source else version


#: R: the installed R half's stamp ("" when it is not installed), without loading it.
INSTALLED_STAMP = """function(pkg) {
  d <- suppressWarnings(utils::packageDescription(pkg, fields = c("Version", "FIELD")))
  if (!is.list(d) || is.na(d$Version)) return("")
  if (is.na(d$FIELD)) d$Version else sprintf("%s (source %s)", d$Version, d$FIELD)
}""".replace("FIELD", FIELD)


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
        description = copy / "DESCRIPTION"
        lines = [x for x in description.read_text().splitlines() if not x.startswith(f"{FIELD}:")]
        description.write_text("\n".join([*lines, f"{FIELD}: {fingerprint(src)}"]) + "\n")
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


def main() -> int:
    """``python -m harmonybridge._rbridge._install``: install the R half with ``Rscript``'s R (no rpy2)
    unless the installed one is already this one; prints one line saying which."""
    r_code = (
        f"f <- {INSTALLED_STAMP}; cat(f('{PACKAGE}'), '\\n', sep = ''); "
        "cat(.libPaths(), sep = '\\n'); cat('\\n', Sys.getenv('R_LIBS_USER'), '\\n', sep = '')"
    )
    out = subprocess.run(["Rscript", "-e", r_code], capture_output=True, text=True, check=True).stdout
    first, rest = out.split("\n", 1)
    libs, _, user = rest.rstrip("\n").rpartition("\n\n")
    want = shipped_stamp()
    if first.strip() == want:
        print(f"R half {want} already installed")
        return 0
    library = writable_library([x for x in libs.splitlines() if x], user.strip())
    install(library)
    print(f"R half {want} installed into {library} (was: {first.strip() or 'not installed'})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
