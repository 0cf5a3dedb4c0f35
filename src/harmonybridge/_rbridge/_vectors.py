"""Vectors across the boundary: one copy each way, no per-element Python loops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ._calls import RFunction, call
from ._session import robjects

NA_INTEGER = -(2**31)  # R's NA_integer_


def _new_vector(kind: str, n: int, fill: Callable[[Any], None]) -> Any:
    """An R vector of ``n`` doubles/integers/logicals, written once by ``fill(view)``.

    ``view`` is a NumPy view of the vector's memory. R's ``vector()`` would zero-fill it first,
    a second pass over the memory; here it comes from ``Rf_allocVector`` (rpy2's
    ``from_iterable`` with a populate hook that does nothing), which leaves it untouched.
    """
    robjects()
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

    values = np.asarray(values)
    return _new_vector(
        "double", values.size, lambda view: np.copyto(view.reshape(values.shape), values, casting="unsafe")
    )


def r_double_columns(values: Any) -> Any:
    """An R double vector of a 2-D array's values in column-major order (R's matrix layout)."""

    values = np.asarray(values)
    if values.ndim != 2:
        msg = f"expected a 2-D array, got {values.ndim} dimensions"
        raise ValueError(msg)
    return r_double(values.T)


def r_int(values: Any, na: Any = None, kind: str = "integer") -> Any:
    """An R integer (or logical) vector, one copy; NA where the boolean mask ``na`` is set."""

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
    import rpy2.rinterface as ri

    codes = np.asarray(codes)
    vec = r_int(codes + 1, na=codes < 0)
    vec.do_slot_assign("levels", ri.StrSexpVector([str(x) for x in levels]))
    vec.do_slot_assign("class", ri.StrSexpVector(["ordered", "factor"] if ordered else ["factor"]))
    return vec


def to_numpy(vec: Any, dtype: Any = None) -> Any:
    """A flat NumPy copy of an R numeric/integer/logical vector (cast to ``dtype`` in the same copy)."""
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


# --- strings: large vectors cross as one joined string (one R call, no per-element rpy2 work)
_SEP = "\x1f"
_FEW = 500


def r_strings(values: Any, na: np.ndarray | None = None) -> Any:
    """An R character vector; large vectors cross as one joined string (fast), NA where ``na``."""
    robjects()
    import rpy2.rinterface as ri

    values = [str(v) for v in values] if not isinstance(values, list) else values
    n = len(values)

    def one_by_one() -> Any:
        return ri.StrSexpVector([ri.NA_Character if (na is not None and na[i]) else v for i, v in enumerate(values)])

    if n < _FEW:
        return one_by_one()
    joined = _SEP.join(values) + _SEP
    if joined.count(_SEP) != n:  # a name holds the separator: the slow, safe way
        return one_by_one()
    na_r = r_int(na, kind="logical") if na is not None and na.any() else None
    return call("hb_split_strings", ri.StrSexpVector([joined]), n, na=na_r, what="splitting strings")


def py_strings(rvec: Any) -> tuple[np.ndarray, np.ndarray]:
    """Python strings (object array) and the NA mask of an R character vector (or factor levels)."""
    from ._lists import get, is_null

    robjects()
    import rpy2.rinterface as ri

    n = len(rvec)
    if n < _FEW:
        vals = list(rvec)
        na = np.array([v is ri.NA_Character for v in vals], dtype=bool)
        out = np.empty(n, dtype=object)
        out[:] = ["" if m else str(v) for v, m in zip(vals, na, strict=True)]
        return out, na
    res = call("hb_join_strings", rvec, what="joining strings")
    na = np.frombuffer(get(res, "na").memoryview(), dtype=np.int32).astype(bool)
    joined = get(res, "joined")
    out = np.empty(n, dtype=object)
    if is_null(joined):
        out[:] = list(get(res, "strings"))
    else:
        out[:] = str(joined[0]).split(_SEP)
    return out, na


def str_list(rvec: Any) -> list[str | None]:
    """An R character vector (or factor levels) as Python strings, None for NA."""
    values, na = py_strings(rvec)
    return [None if missing else str(v) for v, missing in zip(values, na, strict=True)]


def logicals(values: Any) -> Any:
    """An R logical vector of Python booleans (small vectors)."""
    robjects()
    import rpy2.rinterface as ri

    return ri.BoolSexpVector([bool(v) for v in values])


def integers(values: Any) -> Any:
    """An R integer vector of Python ints (small vectors)."""
    robjects()
    import rpy2.rinterface as ri

    return ri.IntSexpVector([int(v) for v in values])


def na_real() -> float:
    """R's ``NA_real_`` as a Python float (a NaN with R's payload)."""
    robjects()
    import rpy2.rinterface as ri

    return float(ri.NA_Real)


def r_raw(data: bytes) -> Any:
    """An R raw vector holding ``data`` (e.g. a serialize()d R object), one copy."""
    robjects()
    import rpy2.rinterface as ri

    return ri.ByteSexpVector(data)


def py_bytes(rvec: Any) -> bytes:
    """The bytes of an R raw vector (through an integer vector: rpy2 gives raw vectors no buffer)."""
    as_int = call(RFunction("base", "as.integer"), rvec, what="reading a raw vector")
    return to_numpy(as_int).astype(np.uint8).tobytes()
