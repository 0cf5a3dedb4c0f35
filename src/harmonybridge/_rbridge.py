"""The one module that owns the rpy2 boundary.

Nothing here runs at import time: R starts on the first call that needs it. Conversions
run in local converter contexts (never a global ``activate()``), R errors become
:class:`RError` carrying R's message, and R's console output goes to the
``harmonybridge.R`` logger (DEBUG) instead of the user's terminal.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ._compat import pkg_version

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


@functools.cache
def robjects() -> Any:
    """``rpy2.robjects``, starting R; or an :class:`RBridgeError` naming the fix."""
    if pkg_version("rpy2") is None and pkg_version("rpy2-robjects") is None:
        msg = "rpy2 is not installed; the R parts need it: pip install 'harmonybridge[r]' (or make setup)"
        raise RBridgeError(msg)
    logging.getLogger("rpy2").setLevel(logging.WARNING)  # its start-up notes are not the user's business
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
            msg = f"R could not be started through rpy2 ({text}); is R installed (apt-get install r-base-dev) and R_HOME right?"
        raise RBridgeError(msg) from err
    return ro


def r_version() -> str:
    ro = robjects()
    return str(ro.r("as.character(getRversion())")[0])


@functools.cache
def require(package: str) -> Any:
    """The R package as an rpy2 namespace (cached), or :class:`RPackageMissing` with the install command."""
    ro = robjects()
    with _LOCK, console():  # loading a package can print (rpy2's reticulate hook, start-up messages)
        ok = bool(ro.r["requireNamespace"](package, quietly=True)[0])
    if not ok:
        hint = R_INSTALL_HINTS.get(package, f"in R: install.packages('{package}')")
        msg = f"R package '{package}' is not installed; {hint}"
        raise RPackageMissing(msg)
    from rpy2.robjects.packages import importr

    with _LOCK, console():
        return importr(package, on_conflict="warn")


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


def hb() -> Any:
    """harmonybridge's own R half (``r/``)."""
    return require("harmonybridge")


@contextlib.contextmanager
def console() -> Iterator[list[str]]:
    """Send what R prints to the ``harmonybridge.R`` logger; yield the captured lines."""
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


def call(fn: Callable[..., Any], *args: Any, what: str, **kwargs: Any) -> Any:
    """Call an R function with R's output captured; R errors become :class:`RError`."""
    from rpy2.rinterface_lib.embedded import RRuntimeError

    with _LOCK, console() as lines:
        try:
            return fn(*args, **kwargs)
        except RRuntimeError as err:
            r_message = str(err).strip()
            output = "".join(lines).strip()
            tail = [ln for ln in output.splitlines() if ln.strip() and ln.strip() not in r_message][-5:]
            detail = ("\nR said:\n  " + "\n  ".join(tail)) if tail else ""
            msg = f"{what} failed in R: {r_message}{detail}"
            raise RError(msg, r_message=r_message, r_output=output) from None


# --- vectors across the boundary: one copy each way, no per-element Python loops -----------
NA_INTEGER = -(2**31)  # R's NA_integer_


def _new_vector(kind: str, n: int, fill: Callable[[Any], None]) -> Any:
    """An R vector of ``n`` doubles/integers/logicals, written once by ``fill(view)``.

    ``view`` is a NumPy view of the vector's memory. R's ``vector()`` would zero-fill it first,
    a second pass over the memory; here it comes from ``Rf_allocVector`` (rpy2's
    ``from_iterable`` with a populate hook that does nothing), which leaves it untouched.
    """
    robjects()
    import numpy as np
    import rpy2.rinterface as ri

    cls, dtype = {
        "double": (ri.FloatSexpVector, np.float64),
        "integer": (ri.IntSexpVector, np.int32),
        "logical": (ri.BoolSexpVector, np.int32),
    }[kind]
    vec = cls.from_iterable(range(n), populate_func=lambda *_: None)
    if n:
        fill(np.frombuffer(vec.memoryview(), dtype=dtype))
    return vec


_RESERVE_MIN = 64 << 20  # bytes; below this R's heap has room anyway


def reserve(nbytes: int) -> None:
    """Make room in R's vector heap for ``nbytes`` about to cross, in one garbage collection.

    R collects garbage whenever a large vector does not fit its vector heap, and a full
    collection costs about 0.5 s once Seurat is loaded; the vectors of one sparse matrix
    (``i``, ``p``, ``x``) and an embedding would each trigger one. A single untouched raw
    vector of their total size (no page is written, so no memory is used) makes R grow the
    heap once; it is garbage at once, and the next young-generation collection frees it.
    """
    if nbytes < _RESERVE_MIN:
        return
    robjects()
    import rpy2.rinterface as ri

    ri.ByteSexpVector.from_iterable(range(nbytes), populate_func=lambda *_: None)


def r_double(values: Any) -> Any:
    """An R double vector of ``values`` (any real dtype and shape) read in row-major (C) order.

    One copy, strided and cast on the fly, whatever the array's memory order: no intermediate.
    ``r_double(a.T)`` gives ``a`` in R's column-major matrix layout.
    """
    import numpy as np

    values = np.asarray(values)
    return _new_vector("double", values.size, lambda view: np.copyto(view.reshape(values.shape), values, casting="unsafe"))


def r_double_columns(values: Any) -> Any:
    """An R double vector of a 2-D array's values in column-major order (R's matrix layout)."""
    import numpy as np

    values = np.asarray(values)
    if values.ndim != 2:
        msg = f"expected a 2-D array, got {values.ndim} dimensions"
        raise ValueError(msg)
    return r_double(values.T)


def r_int(values: Any, na: Any = None, kind: str = "integer") -> Any:
    """An R integer (or logical) vector, one copy; NA where the boolean mask ``na`` is set."""
    import numpy as np

    values = np.asarray(values)

    def fill(view: Any) -> None:
        np.copyto(view, values, casting="unsafe")
        if na is not None and np.any(na):
            view[np.asarray(na)] = NA_INTEGER

    return _new_vector(kind, len(values), fill)


def float_matrix(values: Any, nrow: int, ncol: int) -> Any:
    """An R double matrix nrow x ncol from a C-ordered buffer read column-major (one copy).

    A C-ordered cells x PCs NumPy array is, byte for byte, R's PCs x cells matrix, so
    ``float_matrix(Z, Z.shape[1], Z.shape[0])`` gives harmony its layout without a transpose.
    """
    import numpy as np
    import rpy2.rinterface as ri

    values = np.asarray(values)
    if values.size != nrow * ncol:
        msg = f"buffer of {values.size} values cannot be a {nrow} x {ncol} matrix"
        raise ValueError(msg)
    vec = r_double(values)  # read in C order
    vec.do_slot_assign("dim", ri.IntSexpVector([nrow, ncol]))
    return vec


def factor(codes: Any, levels: Any, *, ordered: bool = False) -> Any:
    """An R factor from 0-based integer codes (-1 = NA) and its levels (one copy)."""
    import numpy as np
    import rpy2.rinterface as ri

    codes = np.asarray(codes)
    vec = r_int(codes + 1, na=codes < 0)
    vec.do_slot_assign("levels", ri.StrSexpVector([str(x) for x in levels]))
    vec.do_slot_assign("class", ri.StrSexpVector(["ordered", "factor"] if ordered else ["factor"]))
    return vec


def to_numpy(vec: Any, dtype: Any = None) -> Any:
    """A flat NumPy copy of an R numeric/integer/logical vector (cast to ``dtype`` in the same copy)."""
    import numpy as np
    import rpy2.rinterface as ri

    src = np.float64 if vec.typeof == ri.RTYPES.REALSXP else np.int32
    if not len(vec):
        return np.empty(0, dtype=dtype or src)
    view = np.asarray(vec.memoryview()).ravel(order="F")  # rpy2 shapes a matrix column-major: its flat buffer
    return np.array(view, dtype=dtype or src)


def matrix_to_numpy(vec: Any, dtype: Any = None) -> Any:
    """An R matrix as a C-ordered NumPy array with the dimensions reversed (R's d x N is N x d), one copy."""
    dim = list(vec.do_slot("dim"))
    return to_numpy(vec, dtype).reshape(dim[::-1])
