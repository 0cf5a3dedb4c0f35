"""Matrices both ways: cells x genes (scipy/NumPy) <-> genes x cells (dgCMatrix/matrix), one copy each way."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

from harmonybridge import _rbridge

INT32_MAX = 2**31 - 1


def check_nnz(m: Any, what: str) -> None:
    if sp.issparse(m) and m.nnz > INT32_MAX:
        msg = (
            f"{what} has {m.nnz:,} non-zeros; R's dgCMatrix holds at most 2^31 - 1 = {INT32_MAX:,}: "
            "subset the cells or genes (or split the object) before converting"
        )
        raise ValueError(msg)


def r_bytes(m: Any) -> int:
    """Bytes a matrix takes in R: a dgCMatrix (8-byte x, 4-byte i, 4-byte p) or a double matrix."""
    if m is None:
        return 0
    if sp.issparse(m):
        return 12 * int(m.nnz) + 4 * (max(m.shape) + 1)
    return 8 * int(np.prod(np.shape(m)))


def matrix_spec(m: Any, what: str) -> dict[str, Any]:
    if sp.issparse(m):
        fmt = m.format
        if fmt not in ("csr", "csc"):
            fmt = "csr"
    else:
        fmt = "dense"
    dt = np.dtype(m.dtype)
    if dt.kind not in "biuf":
        msg = f"{what} has dtype {dt}; only bool, integer and real matrices cross to R"
        raise TypeError(msg)
    return {"format": fmt, "dtype": str(dt), "sparse_class": type(m).__name__ if sp.issparse(m) else ""}


#: The R ``i``/``p`` vectors already made in this conversion: (indices, indptr, r_i, r_p).
_SHARED: contextvars.ContextVar[list | None] = contextvars.ContextVar("hb_shared_structure", default=None)


@contextlib.contextmanager
def shared_structure() -> Iterator[None]:
    """Within the block, sparse matrices with the same non-zero pattern (X and ``layers['counts']``
    of a normalized object) share one R ``i`` and one R ``p`` vector: the pattern crosses once."""
    token = _SHARED.set([])
    try:
        yield
    finally:
        _SHARED.reset(token)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a is b or (a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b))


def _structure(m: Any) -> tuple[Any, Any]:
    """R ``i`` and ``p`` for a canonical CSR matrix, reused from an earlier matrix of the same pattern."""
    seen = _SHARED.get()
    if seen is not None:
        for indices, indptr, r_i, r_p in seen:
            if _same(m.indptr, indptr) and _same(m.indices, indices):
                return r_i, r_p
    r_i, r_p = _rbridge.r_int(m.indices), _rbridge.r_int(m.indptr)
    if seen is not None:
        seen.append((m.indices, m.indptr, r_i, r_p))
    return r_i, r_p


def _canonical(m: Any) -> Any:
    """``m`` (CSR or CSC), or a copy with duplicate entries summed and indices sorted, as R receives it."""
    if m.has_canonical_format:
        return m
    m = m.copy()
    m.sum_duplicates()
    return m


def r_matrix(m: Any, features: Any, cells: Any, what: str) -> Any:
    """A cells x genes matrix as an R genes x cells dgCMatrix (sparse) or matrix (dense).

    CSR cells x genes has the arrays of CSC genes x cells, so ``i``, ``p`` and ``x`` are
    copied once into R vectors (``x`` cast to double in the same copy) and wrapped with
    ``new("dgCMatrix")``: no dense step, no COO or dgR detour. Inside :func:`shared_structure`,
    a pattern already sent is not sent again.
    """
    n_cells, n_genes = m.shape
    if sp.issparse(m):
        m = _canonical(sp.csr_matrix(m) if m.format != "csr" else m)
        i, p = _structure(m)
        x = _rbridge.r_double(m.data)
        return _rbridge.call(
            "hb_dgc", i, p, x, n_genes, n_cells, features, cells, what=f"building {what} as a dgCMatrix"
        )
    arr = np.asarray(m)
    x = _rbridge.r_double(arr)  # C order cells x genes == R genes x cells
    return _rbridge.call("hb_dense", x, n_genes, n_cells, features, cells, what=f"building {what} as a matrix")


def py_matrix(rmat: Any, spec: dict[str, Any] | None, shape: tuple[int, int]) -> Any:
    """An R features x cells dgCMatrix or matrix as a cells x features scipy/numpy matrix."""
    dtype = np.dtype((spec or {}).get("dtype", "float64"))
    fmt = (spec or {}).get("format")
    cls = _rbridge.rclass(rmat)
    if "dgCMatrix" in cls:
        dim = _rbridge.to_numpy(rmat.do_slot("Dim"))
        data = _rbridge.to_numpy(rmat.do_slot("x"), dtype)
        indices = _rbridge.to_numpy(rmat.do_slot("i"))
        indptr = _rbridge.to_numpy(rmat.do_slot("p"))
        out = sp.csr_matrix((data, indices, indptr), shape=(int(dim[1]), int(dim[0])))
        if fmt == "csc":
            return sp.csc_matrix(out)
        if fmt == "dense":
            return out.toarray()
        if (spec or {}).get("sparse_class", "").endswith("_array"):
            return sp.csr_array(out)
        return out
    if "matrix" in cls or "array" in cls:
        dim = _rbridge.to_numpy(_rbridge.attr(rmat, "dim"))
        arr = _rbridge.to_numpy(rmat, dtype).reshape(int(dim[1]), int(dim[0]))  # R column-major genes x cells
        if fmt in ("csr", "csc"):
            return sp.csr_matrix(arr) if fmt == "csr" else sp.csc_matrix(arr)
        return arr
    plain = _rbridge.call("hb_as_plain_matrix", rmat, what="reading a matrix")
    return py_matrix(plain, spec, shape)


def is_counts(m: Any) -> bool:
    """Integer-valued and non-negative (what counts look like)."""
    values = m.data if sp.issparse(m) else np.asarray(m)
    if values.dtype.kind in "iu":
        return bool(values.size == 0 or values.min() >= 0)
    if values.dtype.kind != "f" or values.size == 0:
        return False
    with np.errstate(invalid="ignore"):  # inf: not counts, and no RuntimeWarning for the caller
        return bool(np.all(values >= 0) and np.all(np.mod(values, 1) == 0))


def _row_sums(values: np.ndarray, indptr: np.ndarray, dtype: Any, block: int = 1 << 21) -> np.ndarray:
    """Sums of a CSR matrix's rows in ``dtype`` (exact for integer counts): cumulative sums cut at
    ``indptr``, over blocks of rows of about ``block`` values, so no copy of the whole matrix is made."""
    bounds = np.asarray(indptr, dtype=np.int64)
    n = len(bounds) - 1
    out = np.empty(n, dtype=dtype)
    step = max(1, int(n * block // max(int(bounds[-1]), 1)))
    for start in range(0, n, step):
        stop = min(start + step, n)
        cut = bounds[start : stop + 1] - bounds[start]
        cs = np.zeros(int(cut[-1]) + 1, dtype=dtype)
        np.cumsum(values[bounds[start] : bounds[stop]], dtype=dtype, out=cs[1:])
        out[start:stop] = cs[cut[1:]] - cs[cut[:-1]]
    return out


def cell_totals(m: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per cell (row): the sum of the counts (float64) and how many are > 0 (int32), what SeuratObject's
    CalcN gives as nCount_ and nFeature_ (colSums(counts) and colSums(counts > 0)), without R
    allocating a logical copy of the matrix."""
    if sp.issparse(m) and m.format in ("csr", "csc"):
        m = _canonical(m)  # a gene stored twice in a cell is one feature of it, as in R
        values = m.data
        positive = values > 0
        if m.format == "csr":  # rows are cells
            n_count = _row_sums(values, m.indptr, np.float64)
            n_feature = np.diff(m.indptr) if positive.all() else _row_sums(positive, m.indptr, np.int64)
        else:
            n_count = np.bincount(m.indices, weights=values, minlength=m.shape[0])
            n_feature = np.bincount(m.indices[positive], minlength=m.shape[0])
        return n_count.astype(np.float64), n_feature.astype(np.int32)
    dense = m.toarray() if sp.issparse(m) else np.asarray(m)
    return dense.sum(axis=1, dtype=np.float64), (dense > 0).sum(axis=1).astype(np.int32)


def r_cell_totals(X: Any) -> tuple[Any, Any]:
    """nCount_ and nFeature_ of counts ``X`` (cells in rows) as R vectors, double and integer."""
    n_count, n_feature = cell_totals(X)
    return _rbridge.r_double(n_count), _rbridge.r_int(n_feature)
