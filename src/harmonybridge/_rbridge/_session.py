"""The R session: starting R through rpy2, R packages, R's console output, the errors.

Nothing here runs at import time: R starts on the first call that needs it. R's console
output goes to the ``harmonybridge.R`` logger (DEBUG) instead of the user's terminal.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from harmonybridge._core.warnings import pkg_version

logger = logging.getLogger("harmonybridge.R")
_LOCK = threading.RLock()  # R is single-threaded


class RBridgeError(RuntimeError):
    """R, rpy2 or an R package is missing or does not fit; the message names the fix."""


class RPackageMissing(RBridgeError):
    """An R package is not installed."""


class RError(RuntimeError):
    """An error raised inside R; ``r_message`` is R's own text, ``r_output`` what R printed."""

    def __init__(self, message: str, r_message: str = "", r_output: str = "") -> None:
        super().__init__(message)
        self.r_message, self.r_output = r_message, r_output


R_INSTALL_HINTS = {
    "Seurat": "apt-get install r-cran-seurat, or in R: install.packages('Seurat')",
    "SeuratObject": "apt-get install r-cran-seuratobject, or in R: install.packages('SeuratObject')",
    "Matrix": "apt-get install r-cran-matrix",
    "harmony": "in R: install.packages('harmony')",
    "harmonybridge": "make setup (it runs R CMD INSTALL r from the harmonybridge checkout)",
}


def _quiet_rpy2() -> None:
    """rpy2's start-up notes ("cffi mode ...", "R home found ...") are not the user's business: its
    logger is set to WARNING before any rpy2 module is imported (console() imports one before R starts)."""
    logging.getLogger("rpy2").setLevel(logging.WARNING)


_quiet_rpy2()  # here, as this package is imported: every path into rpy2 (call(), console(), ...) goes through it


@functools.cache
def robjects() -> Any:
    """``rpy2.robjects``, starting R; or an :class:`RBridgeError` naming the fix."""
    if pkg_version("rpy2") is None and pkg_version("rpy2-robjects") is None:
        msg = "rpy2 is not installed; the R parts need it: pip install 'harmonybridge[r]' (or make setup)"
        raise RBridgeError(msg)
    _quiet_rpy2()
    # Starting R puts R's library folders (with the system's libpython beside them) into
    # LD_LIBRARY_PATH; a Python started from this process later (multiprocessing's spawn, Dask's
    # worker processes) would then load the system libpython under this interpreter and fail
    # ("undefined symbol" in _ssl). R is loaded by now and the loader read the variable at start,
    # so the variable goes back to what it was.
    ld_path = os.environ.get("LD_LIBRARY_PATH")
    try:
        import rpy2.robjects as ro
    except (ImportError, OSError, RuntimeError, ValueError) as err:
        text = str(err)
        if "R_getVar" in text or "undefined symbol" in text:
            msg = (
                f"rpy2 {pkg_version('rpy2') or pkg_version('rpy2-robjects')} does not fit the installed R ({text}). "
                "rpy2 3.6 needs R >= 4.5; with an older R: pip uninstall -y rpy2 rpy2-rinterface rpy2-robjects && "
                "pip install 'rpy2>=3.5.17,<3.6'"
            )
        else:
            msg = (
                f"R could not be started through rpy2 ({text}); "
                "is R installed (apt-get install r-base-dev) and R_HOME right?"
            )
        raise RBridgeError(msg) from err
    finally:
        if ld_path is None:
            os.environ.pop("LD_LIBRARY_PATH", None)
        else:
            os.environ["LD_LIBRARY_PATH"] = ld_path
    return ro


def r_version() -> str:
    ro = robjects()
    return str(ro.r("as.character(getRversion())")[0])


@functools.cache
def require(package: str) -> Any:
    """The R package's namespace (an R environment, cached), or :class:`RPackageMissing` with the install command.

    Functions are read from the namespace (``asNamespace``), not from ``importr``'s exports, so
    that the R half's unexported helpers are reachable whatever its NAMESPACE exports.
    """
    ro = robjects()
    if package == "harmonybridge":
        ensure_r_half()
    with _LOCK, console():  # loading a package can print (rpy2's reticulate hook, start-up messages)
        ok = bool(ro.r["requireNamespace"](package, quietly=True)[0])
    if not ok:
        hint = R_INSTALL_HINTS.get(package, f"in R: install.packages('{package}')")
        msg = f"R package '{package}' is not installed; {hint}"
        raise RPackageMissing(msg)
    with _LOCK, console():
        return ro.r["asNamespace"](package)


def installed_r_half() -> str | None:
    """The installed R half's stamp, ``<version> (source <fingerprint>)`` (None when it is not
    installed), without loading it."""
    from ._install import INSTALLED_STAMP

    ro = robjects()
    with _LOCK, console():
        found = str(ro.r(INSTALLED_STAMP)("harmonybridge")[0])
    return found or None


@functools.cache
def ensure_r_half() -> None:
    """Install or update the R half from the sources shipped with this package when the installed
    one is missing, of another version or built from other sources (see :mod:`._install`); once
    per session."""
    from . import _install

    want = _install.shipped_stamp()
    found = installed_r_half()
    if want is None or found == want or os.environ.get("HARMONYBRIDGE_R_AUTOINSTALL") == "0":
        return
    ro = robjects()
    with _LOCK, console():
        lib_paths = [str(p) for p in ro.r[".libPaths"]()]
        user_lib = str(ro.r["Sys.getenv"]("R_LIBS_USER")[0])
        r_home = str(ro.r["R.home"]()[0])
    library = _install.writable_library(lib_paths, user_lib)
    why = "not installed" if found is None else f"the installed one is {found}"
    logging.getLogger("harmonybridge").warning(
        "harmonybridge: installing its R half %s into %s (%s; HARMONYBRIDGE_R_AUTOINSTALL=0 turns this off)",
        want,
        library,
        why,
    )
    _install.install(library, r_home=r_home)
    if str(library) not in lib_paths:
        with _LOCK, console():
            ro.r[".libPaths"](ro.StrVector([str(library), *lib_paths]))


def has_package(package: str) -> bool:
    """Whether R starts and has ``package``."""
    try:
        require(package)
    except RBridgeError:
        return False
    return True


def package_version(package: str) -> str:
    require(package)
    ro = robjects()
    return str(ro.r["as.character"](ro.r["packageVersion"](package))[0])


@contextlib.contextmanager
def console() -> Iterator[list[str]]:
    """Send what R prints to the ``harmonybridge.R`` logger; yield the captured lines."""
    _quiet_rpy2()
    from rpy2.rinterface_lib import callbacks

    lines: list[str] = []

    def write(text: str) -> None:
        lines.append(text)
        if text.strip():
            logger.debug("%s", text.rstrip())

    saved = callbacks.consolewrite_print, callbacks.consolewrite_warnerror
    callbacks.consolewrite_print = callbacks.consolewrite_warnerror = write
    try:
        yield lines
    finally:
        callbacks.consolewrite_print, callbacks.consolewrite_warnerror = saved
