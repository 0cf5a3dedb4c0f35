"""AnnData <-> Seurat (v4 ``Assay`` and v5 ``Assay5``), exact both ways, with a log.

Public API (re-exported by :mod:`harmonybridge`):

- :func:`to_seurat` ``(adata, *, assay="RNA", assay_version=None, raw="assay", return_log=False)``
- :func:`from_seurat` ``(obj, *, assay=None, join_layers=True, return_log=False)``
- :func:`write_rds` / :func:`read_rds`: the same through an ``.rds`` file (written atomically).
- :class:`ConversionLog`: every rename, drop or cast of one conversion. Each function returns it
  beside its result when called with ``return_log=True``; whatever was renamed, dropped or cast
  also raises one :class:`~harmonybridge.ConversionWarning` that summarises the log.

The name map (:data:`NAME_MAP`, also in the docstrings below):

============================================  ===========================================================
AnnData                                       Seurat
============================================  ===========================================================
``X``                                         assay layer ``data`` (sparse as ``dgCMatrix``, dense as matrix)
``layers["counts"]``                          layer ``counts``
``layers["scale.data"]`` (full shape)         layer ``scale.data``
``uns["seurat"]["scale.data"]``               layer ``scale.data`` covering some features only
  (``{"features": names, "data": cells x k}``)  (Seurat's usual variable-feature scale.data)
other ``layers[name]``                        v5: layer ``name``; v4: dropped (logged)
``raw`` (``raw.X``, ``raw.var``)              a second assay ``<assay>_raw`` (``raw="assay"``), or dropped
``obs``                                       ``meta.data`` (column by column, types kept exactly)
``var``                                       the assay's feature metadata
``obs_names`` / ``var_names``                 cell names / feature names
``obsm["X_pca"]``, ``varm["PCs"]``,           reduction ``pca`` (key ``PC_``): embeddings, loadings,
``uns["pca"]["variance"]``                      stdev = sqrt(variance)
``obsm["X_pca_harmony"]``                     reduction ``harmony`` (key ``harmony_``)
``obsm["X_umap"]`` / ``obsm["X_tsne"]``       reduction ``umap`` (``UMAP_``) / ``tsne`` (``tSNE_``)
``obsm["X_<name>"]`` / ``obsm["<name>"]``     reduction ``<name>`` (key from the name, unique)
``obsp[name]``                                Graph ``<assay>_<name>`` (``RNA_connectivities``)
``uns``                                       carried in ``Misc(obj, "harmonybridge")$uns``
============================================  ===========================================================

What Seurat cannot hold as is and what is recorded to undo it, in ``Misc(obj, "harmonybridge")``
(``$record``, a JSON string; ``$uns``, an R list): feature names with ``_`` or ``|`` (Seurat
turns them into ``-``; two names that become one are refused), cell-metadata column names that are
not syntactic in R (Seurat's ``[[<-`` runs ``make.names``), numeric dtypes R lacks (float32, int64,
nullable ``Int*``/``boolean``/``string``, category dtypes), matrix dtypes and formats (CSR/CSC/dense)
and the obsm/obsp/varm keys. :func:`from_seurat` reads that record back, so AnnData -> Seurat ->
AnnData is exact; objects made in R (no record) are read with the defaults of the table.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from . import _io, _rbridge
from ._compat import ConversionWarning, warn

__all__ = ["ConversionLog", "from_seurat", "read_rds", "to_seurat", "write_rds"]

MISC_SLOT = "harmonybridge"
RECORD_FORMAT = 1
INT32_MAX = 2**31 - 1
NA_INTEGER = _rbridge.NA_INTEGER
_SEP = "\x1f"

#: The declarative name map: (AnnData place, Seurat place). Read by both directions.
NAME_MAP: tuple[tuple[str, str], ...] = (
    ("X", "data"),
    ("layers/counts", "counts"),
    ("layers/scale.data", "scale.data"),
)
#: obsm key <-> (reduction name, reduction key)
REDUCTIONS: dict[str, tuple[str, str]] = {
    "X_pca": ("pca", "PC_"),
    "X_pca_harmony": ("harmony", "harmony_"),
    "X_umap": ("umap", "UMAP_"),
    "X_tsne": ("tsne", "tSNE_"),
}
_SLOT_OF = {v: k for k, v in NAME_MAP}
_OBSM_OF = {name: key for key, (name, _) in REDUCTIONS.items()}


# ---- the log --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogEntry:
    """One change: ``action`` is renamed, dropped, cast, joined, moved or restored."""

    action: str
    where: str
    old: str
    new: str = ""
    reason: str = ""

    def __str__(self) -> str:
        arrow = f" -> {self.new}" if self.new else ""
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.action:<8} {self.where}: {self.old}{arrow}{why}"


_LOSSY = {"renamed", "dropped", "cast", "joined"}


@dataclass
class ConversionLog:
    """Everything a conversion renamed, dropped, cast, moved or restored.

    ``entries`` lists :class:`LogEntry` items; ``str(log)`` prints one line each.
    ``changed`` is True when something was renamed, dropped, cast or joined (then a
    :class:`~harmonybridge.ConversionWarning` was emitted too).
    """

    direction: str
    entries: list[LogEntry] = field(default_factory=list)

    def add(self, action: str, where: str, old: Any, new: Any = "", reason: str = "") -> None:
        self.entries.append(LogEntry(action, where, str(old), str(new), reason))

    @property
    def changed(self) -> bool:
        return any(e.action in _LOSSY for e in self.entries)

    def of(self, action: str) -> list[LogEntry]:
        return [e for e in self.entries if e.action == action]

    def __str__(self) -> str:
        if not self.entries:
            return f"{self.direction}: nothing renamed or dropped"
        return "\n".join([f"{self.direction}: {len(self.entries)} change(s)", *(f"  {e}" for e in self.entries)])

    def _warn(self) -> None:
        lossy = [e for e in self.entries if e.action in _LOSSY]
        if lossy:
            shown = "; ".join(str(e) for e in lossy[:5])
            more = f"; and {len(lossy) - 5} more" if len(lossy) > 5 else ""
            warn(f"{self.direction}: {len(lossy)} item(s) renamed, dropped or cast: {shown}{more} "
                 "(return_log=True gives the full log)", ConversionWarning)  # fmt: skip


# ---- small R helpers ------------------------------------------------------------------------


def _ri() -> Any:
    _rbridge.require("SeuratObject")
    import rpy2.rinterface as ri

    return ri


def _hb(name: str) -> Any:
    return getattr(_rbridge.hb(), name)


def _r_strings(values: Any, na: np.ndarray | None = None) -> Any:
    """An R character vector; large vectors cross as one joined string (fast), NA where ``na``."""
    ri = _ri()
    values = [str(v) for v in values] if not isinstance(values, list) else values
    n = len(values)
    if n < 500:
        out = ri.StrSexpVector([ri.NA_Character if (na is not None and na[i]) else v for i, v in enumerate(values)])
        return out
    joined = _SEP.join(values) + _SEP
    if joined.count(_SEP) != n:  # a name holds the separator: the slow, safe way
        return ri.StrSexpVector([ri.NA_Character if (na is not None and na[i]) else v for i, v in enumerate(values)])
    na_r = _rbridge.r_int(na, kind="logical") if na is not None and na.any() else ri.NULL
    return _hb("hb_split_strings")(ri.StrSexpVector([joined]), n, na=na_r)


def _py_strings(rvec: Any) -> tuple[np.ndarray, np.ndarray]:
    """Python strings (object array) and the NA mask of an R character vector (or factor levels)."""
    ri = _ri()
    n = len(rvec)
    if n < 500:
        vals = list(rvec)
        na = np.array([v is ri.NA_Character for v in vals], dtype=bool)
        out = np.empty(n, dtype=object)
        out[:] = ["" if m else str(v) for v, m in zip(vals, na, strict=True)]
        return out, na
    res = _hb("hb_join_strings")(rvec)
    na = np.frombuffer(_get(res, "na").memoryview(), dtype=np.int32).astype(bool)
    joined = _get(res, "joined")
    out = np.empty(n, dtype=object)
    if _is_null(joined):
        out[:] = list(_get(res, "strings"))
    else:
        parts = str(joined[0]).split(_SEP)
        out[:] = parts
    return out, na


def _is_null(x: Any) -> bool:
    ri = _ri()
    return x is ri.NULL or isinstance(x, type(ri.NULL))


def _get(lst: Any, name: str) -> Any:
    """An element of an R list by name, or NULL."""
    ri = _ri()
    names = _names(lst)
    if name not in names:
        return ri.NULL
    return lst[names.index(name)]


def _names(x: Any) -> list[str]:
    ri = _ri()
    nm = x.do_slot("names") if "names" in list(x.list_attrs()) else ri.NULL
    return [] if _is_null(nm) else [str(v) for v in nm]


def _r_list(items: dict[str, Any]) -> Any:
    ri = _ri()
    out = ri.ListSexpVector([v if v is not None else ri.NULL for v in items.values()])
    out.do_slot_assign("names", ri.StrSexpVector(list(items.keys())))
    return out


def _attr(x: Any, name: str) -> Any:
    ri = _ri()
    return x.do_slot(name) if name in list(x.list_attrs()) else ri.NULL


def _rclass(x: Any) -> list[str]:
    return [str(c) for c in x.rclass]


def _call(name: str, *args: Any, what: str, **kwargs: Any) -> Any:
    return _rbridge.call(_hb(name), *args, what=what, **kwargs)


# ---- names --------------------------------------------------------------------------------


def _seurat_feature_name(name: str) -> str:
    return name.replace("_", "-").replace("|", "-")


_R_RESERVED = {
    "if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE", "NULL",
    "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "NA_complex_", "in",
}  # fmt: skip


def _make_name(name: str) -> str:
    """Python twin of R's ``make.names`` for one name (ASCII letters, digits, '.', '_')."""
    out = "".join(c if (c.isascii() and (c.isalnum() or c in "._")) else "." for c in name)
    if not out or not (out[0].isalpha() or (out[0] == "." and not (len(out) > 1 and out[1].isdigit()))):
        out = "X" + out
    if out in _R_RESERVED:
        out += "."
    return out


def _unique_names(wanted: list[str], taken: set[str]) -> list[str]:
    out, used = [], set(taken)
    for name in wanted:
        new, i = name, 0
        while new in used:
            i += 1
            new = f"{name}.{i}"
        used.add(new)
        out.append(new)
    return out


def _check_names(names: pd.Index, what: str) -> None:
    if not names.is_unique:
        dup = names[names.duplicated()].unique()[:5].tolist()
        fix = "adata.obs_names_make_unique()" if what.startswith("obs") else "adata.var_names_make_unique()"
        msg = f"{what} are not unique (e.g. {dup}); Seurat needs unique names: call {fix} first"
        raise ValueError(msg)
    if (names == "").any():
        msg = f"{what} include an empty name; Seurat refuses empty names: rename it first"
        raise ValueError(msg)


def _feature_map(var_names: pd.Index, where: str) -> tuple[list[str], dict[str, str]]:
    """Seurat-side feature names and {seurat: original} for the ones Seurat would rewrite."""
    names = var_names.astype(str)
    _check_names(pd.Index(names), "var names" if where == "var" else f"{where} var names")
    bad = names.str.contains("_", regex=False) | names.str.contains("|", regex=False)
    if not bad.any():
        return names.tolist(), {}
    new = np.asarray(names, dtype=object).copy()
    new[bad] = [_seurat_feature_name(n) for n in names[bad]]
    idx = pd.Index(new)
    if not idx.is_unique:
        dup = set(idx[idx.duplicated()])
        pairs = [sorted(n for n in names if _seurat_feature_name(n) == d) for d in list(dup)[:5]]
        msg = (f"feature names collide once Seurat turns '_' and '|' into '-': {pairs}; "
               f"rename them first (e.g. adata.var_names = adata.var_names.str.replace('_', '.'))")  # fmt: skip
        raise ValueError(msg)
    return new.tolist(), {new[i]: names[i] for i in np.flatnonzero(bad)}


# ---- data frames ------------------------------------------------------------------------------


def _dtype_spec(s: pd.Series) -> dict[str, Any]:
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return {"kind": "category", "ordered": bool(dt.ordered), "categories": str(dt.categories.dtype)}
    if isinstance(dt, pd.StringDtype):
        spec = {"kind": "string", "storage": dt.storage}
        if getattr(dt, "na_value", pd.NA) is not pd.NA:  # pandas 3's default ``str`` (NaN for missing)
            spec["na_value"] = "nan"
        return spec
    return {"kind": "plain", "dtype": str(dt)}


def _r_column(s: pd.Series, where: str, log: ConversionLog) -> Any:
    """One pandas column as an R vector, or None (dropped, logged)."""
    ri = _ri()
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        cats = dt.categories
        if cats.dtype.kind not in "OUSifub" or (cats.dtype == object and pd.api.types.infer_dtype(cats) != "string"):
            log.add("dropped", where, s.name, reason=f"categories of dtype {cats.dtype} have no R factor form")
            return None
        codes = np.asarray(s.cat.codes)
        out = _rbridge.r_int(codes.astype(np.int64) + 1, na=codes < 0)
        out.do_slot_assign("levels", _r_strings([str(c) for c in cats]))
        # class<- (not a bare attribute) so that R marks the vector as an object (factor dispatch)
        return ri.baseenv["class<-"](out, ri.StrSexpVector(["ordered", "factor"] if dt.ordered else ["factor"]))
    if isinstance(dt, pd.StringDtype) or (dt == object and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty")):
        na = np.asarray(s.isna())
        values = np.asarray(s.astype(object))
        return _r_strings(["" if m else v for v, m in zip(values, na, strict=True)], na=na)
    if dt == object:
        log.add("dropped", where, s.name, reason=f"mixed object column ({pd.api.types.infer_dtype(s)}); cast it to str or category")
        return None
    if pd.api.types.is_bool_dtype(dt):
        na = np.asarray(s.isna())
        return _rbridge.r_int(np.asarray(s.fillna(False) if na.any() else s, dtype=np.int32), na=na, kind="logical")
    if pd.api.types.is_integer_dtype(dt):
        na = np.asarray(s.isna())
        values = np.asarray(s.fillna(0) if na.any() else s).astype(np.int64, copy=False)
        if values.size == 0 or (values.min() > NA_INTEGER and values.max() <= INT32_MAX):
            return _rbridge.r_int(values, na=na)
        if np.abs(values).max() > 2**53:
            log.add("cast", where, s.name, reason=f"{dt} values beyond 2^53 lose precision as R doubles")
        out = _rbridge.r_double(values)
        if na.any():
            np.frombuffer(out.memoryview(), dtype=np.float64)[na] = float(ri.NA_Real)
        return out
    if pd.api.types.is_float_dtype(dt):
        na = np.asarray(s.isna()) if isinstance(dt, pd.api.extensions.ExtensionDtype) else None
        values = np.asarray(s.to_numpy(dtype=np.float64, na_value=np.nan))
        out = _rbridge.r_double(values)
        if na is not None and na.any():
            np.frombuffer(out.memoryview(), dtype=np.float64)[na] = float(ri.NA_Real)
        return out
    log.add("dropped", where, s.name, reason=f"dtype {dt} has no R form here; cast it to str, float or category")
    return None


def _r_frame(df: pd.DataFrame, where: str, r_names: list[str], log: ConversionLog) -> tuple[Any, list[list[Any]]]:
    """An R data.frame and the record [[original, r name, dtype spec], ...] of its columns."""
    cols, rec = {}, []
    for col, rname in zip(df.columns, r_names, strict=True):
        v = _r_column(df[col], f"{where} column", log)
        if v is None:
            continue
        cols[rname] = v
        rec.append([col, rname, _dtype_spec(df[col])])
    frame = _hb("hb_data_frame")(_r_list(cols), _r_strings(df.index.astype(str).tolist()))
    return frame, rec


def _py_column(rvec: Any, spec: dict[str, Any] | None) -> Any:
    """One R vector as pandas values, cast as the record says (or sensible defaults)."""
    ri = _ri()
    cls = _rclass(rvec)
    kind = (spec or {}).get("kind")
    if "factor" in cls:
        codes = _rbridge.to_numpy(rvec, np.int64)
        codes = np.where(codes == NA_INTEGER, -1, codes - 1)
        levels, _ = _py_strings(_attr(rvec, "levels"))
        cat_dtype = (spec or {}).get("categories", "object")
        cats = pd.Index(levels, dtype=object)
        if cat_dtype != "object":
            cats = cats.astype(cat_dtype if cat_dtype != "bool" else object)
            if cat_dtype == "bool":
                cats = pd.Index([v == "True" for v in levels], dtype=bool)
        ordered = "ordered" in cls
        return pd.Categorical.from_codes(codes, categories=cats, ordered=ordered)
    typ = rvec.typeof
    dtype = (spec or {}).get("dtype")
    if typ == ri.RTYPES.STRSXP:
        values, na = _py_strings(rvec)
        if kind == "string":
            storage = (spec or {}).get("storage", "python")
            sdt = pd.StringDtype(storage, na_value=np.nan) if spec.get("na_value") == "nan" else pd.StringDtype(storage)
            values[na] = None
            return pd.array(values, dtype=sdt)
        values[na] = None
        if dtype == "object":  # recorded as object: kept so (pandas 3 would infer its ``str`` dtype)
            return pd.Series(values, dtype=object, copy=False)
        return values
    if typ == ri.RTYPES.LGLSXP:
        raw = _rbridge.to_numpy(rvec)
        na = raw == NA_INTEGER
        if dtype == "bool" or (dtype is None and not na.any()):
            return raw.astype(bool)
        return pd.arrays.BooleanArray(raw == 1, na)
    if typ == ri.RTYPES.INTSXP:
        raw = _rbridge.to_numpy(rvec)
        na = raw == NA_INTEGER
        if dtype is None:
            return pd.arrays.IntegerArray(raw, na) if na.any() else raw
        if na.any() or dtype[0] in "IU":
            return pd.arrays.IntegerArray(raw, na).astype(dtype)
        return raw.astype(dtype)
    if typ == ri.RTYPES.REALSXP:
        raw = _rbridge.to_numpy(rvec)
        if dtype is None:
            return raw
        bits = raw.view(np.uint64)
        na = np.isnan(raw) & ((bits & np.uint64(0xFFFFFFFF)) == np.uint64(1954))
        if dtype[0] in "IU" or dtype.startswith("Float"):
            out = pd.array(np.where(np.isnan(raw), 0 if dtype[0] in "IU" else raw, raw), dtype=dtype)
            if dtype.startswith("Float"):
                out[na] = pd.NA
            else:
                out[np.isnan(raw)] = pd.NA
            return out
        return raw.astype(dtype)
    msg = f"R column of type {typ} ({cls}) has no pandas form"
    raise TypeError(msg)


def _py_frame(rdf: Any, index: pd.Index, rec: list[list[Any]] | None, where: str, log: ConversionLog) -> pd.DataFrame:
    """A pandas frame from an R data.frame; columns named and typed as recorded."""
    names = _names(rdf)
    by_rname = {r[1]: (r[0], r[2]) for r in rec or []}
    data = {}
    for i, rname in enumerate(names):
        orig, spec = by_rname.get(rname, (rname, None))
        try:
            data[orig] = _py_column(rdf[i], spec)
        except TypeError as err:
            log.add("dropped", f"{where} column", rname, reason=str(err))
            continue
        if orig != rname:
            log.add("restored", f"{where} column", rname, orig)
    data = {k: v.set_axis(index) if isinstance(v, pd.Series) else v for k, v in data.items()}
    df = pd.DataFrame(data, index=index)
    if rec:  # recorded order first, then new columns made in R
        order = [r[0] for r in rec if r[0] in df.columns]
        df = df[order + [c for c in df.columns if c not in set(order)]]
    return df


# ---- matrices -------------------------------------------------------------------------------


def _check_nnz(m: Any, what: str) -> None:
    if sp.issparse(m) and m.nnz > INT32_MAX:
        msg = (f"{what} has {m.nnz:,} non-zeros; R's dgCMatrix holds at most 2^31 - 1 = {INT32_MAX:,}: "
               "subset the cells or genes (or split the object) before converting")  # fmt: skip
        raise ValueError(msg)


def _r_bytes(m: Any) -> int:
    """Bytes a matrix takes in R: a dgCMatrix (8-byte x, 4-byte i, 4-byte p) or a double matrix."""
    if m is None:
        return 0
    if sp.issparse(m):
        return 12 * int(m.nnz) + 4 * (max(m.shape) + 1)
    return 8 * int(np.prod(np.shape(m)))


def _matrix_spec(m: Any, what: str) -> dict[str, Any]:
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


def _r_matrix(m: Any, features: Any, cells: Any, what: str) -> Any:
    """A cells x genes matrix as an R genes x cells dgCMatrix (sparse) or matrix (dense).

    CSR cells x genes has the arrays of CSC genes x cells, so ``i``, ``p`` and ``x`` are
    copied once into R vectors (``x`` cast to double in the same copy) and wrapped with
    ``new("dgCMatrix")``: no dense step, no COO or dgR detour.
    """
    n_cells, n_genes = m.shape
    if sp.issparse(m):
        if m.format != "csr":
            m = sp.csr_matrix(m)
        if not m.has_canonical_format:
            m = m.copy()
            m.sum_duplicates()
        i = _rbridge.r_int(m.indices)
        p = _rbridge.r_int(m.indptr)
        x = _rbridge.r_double(m.data)
        return _call("hb_dgc", i, p, x, n_genes, n_cells, features, cells, what=f"building {what} as a dgCMatrix")
    arr = np.asarray(m)
    x = _rbridge.r_double(arr)  # C order cells x genes == R genes x cells
    return _call("hb_dense", x, n_genes, n_cells, features, cells, what=f"building {what} as a matrix")


def _py_matrix(rmat: Any, spec: dict[str, Any] | None, shape: tuple[int, int]) -> Any:
    """An R features x cells dgCMatrix or matrix as a cells x features scipy/numpy matrix."""
    dtype = np.dtype((spec or {}).get("dtype", "float64"))
    fmt = (spec or {}).get("format")
    cls = _rclass(rmat)
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
        dim = _rbridge.to_numpy(_attr(rmat, "dim"))
        arr = _rbridge.to_numpy(rmat, dtype).reshape(int(dim[1]), int(dim[0]))  # R column-major genes x cells
        if fmt in ("csr", "csc"):
            return sp.csr_matrix(arr) if fmt == "csr" else sp.csc_matrix(arr)
        return arr
    plain = _call("hb_as_plain_matrix", rmat, what="reading a matrix")
    return _py_matrix(plain, spec, shape)


# ---- uns (carried in Misc) ------------------------------------------------------------------


def _r_uns(value: Any, where: str, log: ConversionLog) -> Any:
    """A tagged R value (attribute ``hb_type``) for an uns item, or None (dropped, logged)."""
    ri = _ri()

    def tag(x: Any, t: str) -> Any:
        x.do_slot_assign("hb_type", ri.StrSexpVector([t]))
        return x

    if isinstance(value, dict):
        items = {}
        for k, v in value.items():
            if not isinstance(k, str):
                log.add("dropped", "uns", f"{where}/{k!r}", reason="non-string key")
                continue
            r = _r_uns(v, f"{where}/{k}", log)
            if r is not None:
                items[k] = r
        out = _r_list(items) if items else ri.ListSexpVector([])
        if not items:
            out.do_slot_assign("names", ri.StrSexpVector([]))
        return tag(out, "dict")
    if value is None:  # e.g. uns['log1p']['base'], None by default: carried as a tagged empty vector
        return tag(ri.BoolSexpVector([]), "none")
    if isinstance(value, (str, np.str_)):
        return tag(ri.StrSexpVector([str(value)]), "str")
    if isinstance(value, (bool, np.bool_)):
        return tag(ri.BoolSexpVector([bool(value)]), "bool")
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return tag(_rbridge.r_double(np.array([value], dtype=np.float64)), f"int:{np.asarray(value).dtype}")
    if isinstance(value, (float, np.floating)):
        return tag(_rbridge.r_double(np.array([value], dtype=np.float64)), f"float:{np.asarray(value).dtype}")
    if isinstance(value, np.ndarray) and value.ndim <= 2:
        dt = value.dtype
        if dt.kind in "biuf":
            out = _rbridge.r_double(value.reshape(-1, order="F")) if dt.kind != "b" else _rbridge.r_int(value.reshape(-1, order="F"), kind="logical")
        elif dt.kind in "OUS" and (value.size == 0 or pd.api.types.infer_dtype(value.ravel()) == "string"):
            out = _r_strings([str(v) for v in value.reshape(-1, order="F")])
        else:
            log.add("dropped", "uns", where, reason=f"array of dtype {dt} has no R form")
            return None
        if value.ndim == 2:
            out.do_slot_assign("dim", ri.IntSexpVector(list(value.shape)))
        return tag(out, f"ndarray:{dt.str}:{value.ndim}")
    if isinstance(value, (list, tuple)):
        items = [_r_uns(v, f"{where}[{i}]", log) for i, v in enumerate(value)]
        if any(i is None for i in items):
            return None
        return tag(ri.ListSexpVector(items), type(value).__name__)
    log.add("dropped", "uns", where, reason=f"{type(value).__name__} is not carried to R")
    return None


def _py_uns(x: Any) -> Any:
    ri = _ri()
    t = _attr(x, "hb_type")
    tag = "" if _is_null(t) else str(t[0])
    if tag == "dict" or (not tag and x.typeof == ri.RTYPES.VECSXP and _names(x)):
        return {k: _py_uns(x[i]) for i, k in enumerate(_names(x))}
    if tag in ("list", "tuple") or x.typeof == ri.RTYPES.VECSXP:
        items = [_py_uns(v) for v in x]
        return tuple(items) if tag == "tuple" else items
    if tag == "none":
        return None
    if tag == "str":
        return str(x[0])
    if tag == "bool":
        return bool(x[0])
    if tag.startswith("int:"):
        return np.dtype(tag[4:]).type(int(x[0])) if tag[4:] != "int64" else int(x[0])
    if tag.startswith("float:"):
        return float(x[0]) if tag[6:] == "float64" else np.dtype(tag[6:]).type(x[0])
    if tag.startswith("ndarray:"):
        _, dstr, ndim = tag.split(":")
        dt = np.dtype(dstr)
        if dt.kind in "OUS":
            flat, _ = _py_strings(x)
            flat = flat.astype(dt) if dt.kind != "O" else flat
        elif dt.kind == "b":
            flat = _rbridge.to_numpy(x).astype(bool)
        else:
            flat = _rbridge.to_numpy(x, dt)
        if ndim == "2":
            dim = _rbridge.to_numpy(_attr(x, "dim"))
            return flat.reshape(int(dim[0]), int(dim[1]), order="F")
        return flat
    # untagged R value (made in R)
    if x.typeof == ri.RTYPES.STRSXP:
        vals, _ = _py_strings(x)
        return vals[0] if len(vals) == 1 else vals
    if x.typeof in (ri.RTYPES.REALSXP, ri.RTYPES.INTSXP, ri.RTYPES.LGLSXP):
        arr = _rbridge.to_numpy(x)
        if x.typeof == ri.RTYPES.LGLSXP:
            arr = arr.astype(bool)
        return arr[0] if len(arr) == 1 else arr
    return None


# ---- AnnData -> Seurat ----------------------------------------------------------------------


def _reduction_plan(adata: AnnData, assay: str, log: ConversionLog) -> list[dict[str, Any]]:
    plan, used_names, used_keys = [], {assay, f"{assay}_raw"}, {f"{_key_base(assay.lower())}_", "rnaraw_"}
    for key, value in adata.obsm.items():
        if isinstance(value, pd.DataFrame):
            log.add("dropped", "obsm", key, reason="data frames are not reductions; store a numeric array")
            continue
        if not (sp.issparse(value) or (isinstance(value, np.ndarray) and value.ndim == 2 and value.dtype.kind in "biuf")):
            log.add("dropped", "obsm", key, reason=f"{type(value).__name__} is not a 2-D numeric array")
            continue
        if value.shape[1] == 0:
            log.add("dropped", "obsm", key, reason="no columns")
            continue
        if key in REDUCTIONS:
            name, rkey = REDUCTIONS[key]
        else:
            name = key[2:] if key.startswith("X_") and len(key) > 2 else key
            rkey = f"{_key_base(name)}_"
        rname = _make_name(name)
        if rname in used_names:
            msg = (f"obsm keys {key!r} and another key both map to the Seurat reduction {rname!r}; "
                   "rename one of them (adata.obsm[new] = adata.obsm.pop(old))")  # fmt: skip
            raise ValueError(msg)
        used_names.add(rname)
        if rname != name:
            log.add("renamed", "reduction", name, rname, "Seurat needs syntactic R names")
        base, i = rkey[:-1], 1
        while rkey in used_keys:
            i += 1
            rkey = f"{base}{i}_"
        used_keys.add(rkey)
        plan.append({"obsm": key, "name": rname, "key": rkey, "value": value})
    return plan


def _log_features(log: ConversionLog, where: str, renamed: dict[str, str]) -> None:
    if renamed:
        shown = ", ".join(f"{o} -> {n}" for n, o in list(renamed.items())[:3])
        more = ", ..." if len(renamed) > 3 else ""
        log.add("renamed", where, f"{len(renamed)} name(s)", f"Seurat names ({shown}{more})",
                "Seurat turns '_' and '|' into '-'; restored by from_seurat")  # fmt: skip


def _named_layers(adata: AnnData) -> dict[str, Any]:
    """``adata.layers`` without the ``None`` key under which anndata >= 0.13 also lists ``X``."""
    return {k: v for k, v in adata.layers.items() if k is not None}


def _check_v5_shape(adata: AnnData, with_raw: bool) -> None:
    """SeuratObject < 5.4 cannot build an Assay5 with a single cell or feature (fixed in 5.4.0)."""
    shapes = [adata.shape] + ([adata.raw.shape] if with_raw and adata.raw is not None else [])
    if all(min(shape) > 1 for shape in shapes):
        return
    installed = _rbridge.package_version("SeuratObject")
    if tuple(int(p) for p in installed.split(".")[:2]) >= (5, 4):
        return
    n_obs, n_vars = next(shape for shape in shapes if min(shape) == 1)
    msg = (f"SeuratObject {installed} cannot build a v5 assay (Assay5) of {n_obs} cell(s) x {n_vars} feature(s): "
           "one cell or one feature needs SeuratObject >= 5.4.0; pass assay_version='v4' or upgrade SeuratObject")  # fmt: skip
    raise ValueError(msg)


def _key_base(name: str) -> str:
    base = "".join(c for c in name if c.isascii() and c.isalnum())
    return base if base and not base[0].isdigit() else f"X{base}"


def to_seurat(
    adata: AnnData,
    *,
    assay: str = "RNA",
    assay_version: Literal["v4", "v5"] | None = None,
    raw: Literal["assay", "drop"] = "assay",
    project: str = "SeuratProject",
    return_log: bool = False,
) -> Any:
    """Convert an AnnData to a Seurat object (an rpy2 object), exactly and reversibly.

    Parameters
    ----------
    adata
        The AnnData; it is not modified.
    assay
        Name of the Seurat assay that holds ``X`` (as ``data``) and ``layers["counts"]`` (as ``counts``).
    assay_version
        ``"v5"`` (``Assay5``, needs SeuratObject >= 5) or ``"v4"`` (``Assay``); default: v5 when
        the installed SeuratObject has it, else v4.
    raw
        ``"assay"`` stores ``adata.raw`` as a second assay ``<assay>_raw`` (its ``X`` as ``data``,
        its ``var`` as feature metadata); ``"drop"`` leaves it out (logged).
    project
        Seurat project name.
    return_log
        Return ``(seurat, log)`` with the :class:`ConversionLog` instead of the object alone.

    Returns
    -------
    The Seurat object, or ``(object, ConversionLog)``. See the module docstring for the name map;
    what Seurat cannot hold as is is recorded in ``Misc(obj, "harmonybridge")`` so that
    :func:`from_seurat` restores it. Renames and drops raise one :class:`ConversionWarning`.
    """
    if not isinstance(adata, AnnData):
        msg = f"to_seurat needs an AnnData, not {type(adata).__name__}"
        raise TypeError(msg)
    if raw not in ("assay", "drop"):
        msg = f"raw must be 'assay' or 'drop', not {raw!r}"
        raise ValueError(msg)
    if assay_version not in (None, "v4", "v5"):
        msg = f"assay_version must be 'v4', 'v5' or None, not {assay_version!r}"
        raise ValueError(msg)
    if not assay or _make_name(assay) != assay:
        msg = f"assay name {assay!r} is not a valid Seurat name; use letters, digits, '.' and '_' (e.g. 'RNA')"
        raise ValueError(msg)
    if adata.n_obs == 0 or adata.n_vars == 0:
        msg = f"cannot convert an AnnData with {adata.n_obs} cells x {adata.n_vars} genes: Seurat needs both"
        raise ValueError(msg)
    if adata.is_view:
        adata = adata.copy()
    # every check that can fail cheaply comes before any work in R
    _check_nnz(adata.X, "adata.X")
    layers_in = _named_layers(adata)
    for k, v in layers_in.items():
        _check_nnz(v, f"adata.layers[{k!r}]")
    if adata.raw is not None and raw == "assay":
        _check_nnz(adata.raw.X, "adata.raw.X")
    if adata.X is None:
        msg = "adata.X is None; Seurat's data layer needs a matrix: set adata.X (e.g. adata.X = adata.layers['counts'])"
        raise ValueError(msg)
    obs_names = adata.obs_names.astype(str)
    _check_names(pd.Index(obs_names), "obs names")
    features, renamed = _feature_map(adata.var_names, "var")
    version = assay_version or str(_call("hb_default_assay_version", what="checking SeuratObject")[0])
    if version == "v5" and not bool(_call("hb_seurat_object_v5", what="checking SeuratObject")[0]):
        msg = (f"assay_version='v5' needs SeuratObject >= 5.0.0 (installed: {_rbridge.package_version('SeuratObject')}); "
               "pass assay_version='v4' or upgrade SeuratObject")  # fmt: skip
        raise ValueError(msg)
    if version == "v5":
        _check_v5_shape(adata, raw == "assay")

    log = ConversionLog("AnnData -> Seurat")
    _log_features(log, "features", renamed)
    rec: dict[str, Any] = {"format": RECORD_FORMAT, "assay": assay, "version": version, "layers": {}}
    rec["features"] = adata.var_names.astype(str).tolist() if renamed else None
    rec["obs_index"] = {"name": adata.obs.index.name, "dtype": str(adata.obs.index.dtype)}
    rec["var_index"] = {"name": adata.var.index.name, "dtype": str(adata.var.index.dtype)}
    plan = _reduction_plan(adata, assay, log)

    matrices = [adata.X, *layers_in.values(), *(p["value"] for p in plan), *adata.obsp.values()]
    if adata.raw is not None and raw == "assay":
        matrices.append(adata.raw.X)
    _rbridge.reserve(sum(_r_bytes(m) for m in matrices))  # one garbage collection for all of them
    cells_r = _r_strings(obs_names.tolist())
    features_r = _r_strings(features)
    rec["X"] = _matrix_spec(adata.X, "adata.X")
    data = _r_matrix(adata.X, features_r, cells_r, "adata.X")
    counts = scale = None
    layers = {}
    for name, value in layers_in.items():
        spec = _matrix_spec(value, f"adata.layers[{name!r}]")
        if name == "counts":
            counts = _r_matrix(value, features_r, cells_r, "layers['counts']")
        elif name == "scale.data":
            scale = _r_matrix(value if not sp.issparse(value) else value.toarray(), features_r, cells_r, "layers['scale.data']")
        elif version == "v5" and name != "data" and _SLOT_OF.get(name) is None:
            layers[name] = _r_matrix(value, features_r, cells_r, f"layers[{name!r}]")
        else:
            why = "v4 assays hold only counts, data and scale.data; use assay_version='v5'" if version == "v4" else "the name is taken by X"
            log.add("dropped", "layers", name, reason=why)
            continue
        rec["layers"][name] = spec
    uns = dict(adata.uns)
    seurat_uns = uns.get("seurat")
    if isinstance(seurat_uns, dict) and "scale.data" in seurat_uns and scale is None:
        sd = seurat_uns["scale.data"]
        sd_feats = [str(f) for f in np.asarray(sd["features"])]
        unknown = sorted(set(sd_feats) - set(adata.var_names.astype(str)))
        if unknown:
            msg = f"uns['seurat']['scale.data'] names features not in var_names: {unknown[:5]}; fix or remove it"
            raise ValueError(msg)
        pos = pd.Index(adata.var_names.astype(str)).get_indexer(sd_feats)
        matrix = np.asarray(sd["data"])
        scale = _r_matrix(matrix, _r_strings([features[p] for p in pos]), cells_r, "uns['seurat']['scale.data']")
        rec["scale_data"] = {"where": "uns", "dtype": str(matrix.dtype), "features": sd_feats}
        uns["seurat"] = {k: v for k, v in seurat_uns.items() if k != "scale.data"}
        if not uns["seurat"]:
            del uns["seurat"]
            rec["scale_data"]["drop_seurat"] = True
    elif "scale.data" in layers_in:
        rec["scale_data"] = {"where": "layer"}

    # obs and var, column by column
    reserved = {assay, f"{assay}_raw"} | {p["name"] for p in plan} | {f"{assay}_{k}" for k in adata.obsp}
    obs_cols = [str(c) for c in adata.obs.columns]
    r_obs_names = _unique_names([_make_name(c) for c in obs_cols], reserved)
    for c, r in zip(obs_cols, r_obs_names, strict=True):
        if c != r:
            log.add("renamed", "obs column", c, r, "Seurat's [[<- needs syntactic, unique names; restored by from_seurat")
    if len(set(obs_cols)) != len(obs_cols):
        msg = f"obs has duplicate column names {pd.Index(obs_cols)[pd.Index(obs_cols).duplicated()].tolist()}; rename them"
        raise ValueError(msg)
    obs_r, rec["obs"] = _r_frame(adata.obs, "obs", r_obs_names, log)
    var = adata.var.copy(deep=False)
    var.index = features
    var_r, rec["var"] = _r_frame(var, "var", [str(c) for c in var.columns], log)

    extra = {}
    if adata.raw is not None:
        if raw == "assay":
            raw_features, raw_renamed = _feature_map(adata.raw.var_names, "raw")
            raw_feats_r = _r_strings(raw_features)
            raw_var = adata.raw.var.copy(deep=False)
            raw_var.index = raw_features
            raw_var_r, raw_var_rec = _r_frame(raw_var, "raw.var", [str(c) for c in raw_var.columns], log)
            extra[f"{assay}_raw"] = _r_list({
                "data": _r_matrix(adata.raw.X, raw_feats_r, cells_r, "adata.raw.X"),
                "var": raw_var_r,
            })  # fmt: skip
            rec["raw"] = {
                "assay": f"{assay}_raw", "X": _matrix_spec(adata.raw.X, "adata.raw.X"), "var": raw_var_rec,
                "features": adata.raw.var_names.astype(str).tolist() if raw_renamed else None,
                "var_index": {"name": adata.raw.var.index.name},
            }  # fmt: skip
            _log_features(log, "raw features", raw_renamed)
            if len(adata.raw.varm):
                log.add("dropped", "raw.varm", list(adata.raw.varm), reason="Seurat assays have no varm")
        else:
            log.add("dropped", "raw", "adata.raw", reason="raw='drop'")

    # reductions
    reductions, rec["obsm"] = [], {}
    pca_name = next((p["name"] for p in plan if p["obsm"] == "X_pca"), None)
    for p in plan:
        value = p["value"]
        emb_spec = {"key": p["obsm"], "dtype": str(value.dtype), "sparse": bool(sp.issparse(value))}
        emb = value.toarray() if sp.issparse(value) else np.asarray(value)
        emb_r = _call("hb_dense", _rbridge.r_double_columns(emb), emb.shape[0], emb.shape[1],
                      cells_r, _r_strings([f"{p['key']}{i + 1}" for i in range(emb.shape[1])]), what="embedding")  # fmt: skip
        item = {"name": _ri().StrSexpVector([p["name"]]), "key": _ri().StrSexpVector([p["key"]]), "embeddings": emb_r}
        if p["name"] == pca_name:
            pcs = adata.varm.get("PCs")
            if pcs is not None and np.shape(pcs)[1] == emb.shape[1]:
                pcs = np.asarray(pcs)
                item["loadings"] = _call("hb_dense", _rbridge.r_double_columns(pcs),
                                         pcs.shape[0], pcs.shape[1], features_r,
                                         _r_strings([f"{p['key']}{i + 1}" for i in range(pcs.shape[1])]), what="loadings")  # fmt: skip
                rec["varm_PCs"] = {"dtype": str(pcs.dtype)}
            variance = (adata.uns.get("pca") or {}).get("variance") if isinstance(adata.uns.get("pca"), dict) else None
            if variance is not None and np.shape(variance) == (emb.shape[1],):
                item["stdev"] = _rbridge.r_double(np.sqrt(np.asarray(variance, dtype=np.float64)))
        reductions.append(_r_list(item))
        rec["obsm"][p["name"]] = emb_spec
    for k in adata.varm:
        if k != "PCs" or "varm_PCs" not in rec:
            log.add("dropped", "varm", k, reason="only varm['PCs'] (with obsm['X_pca'] of as many columns) maps to pca loadings")

    # graphs
    graphs, rec["obsp"] = {}, {}
    for k, g in adata.obsp.items():
        gname = _make_name(f"{assay}_{k}")
        spec = _matrix_spec(g, f"adata.obsp[{k!r}]")
        _check_nnz(g, f"adata.obsp[{k!r}]")
        gcsc = sp.csc_matrix(g)  # R wants the graph itself column-major (not its transpose)
        graphs[gname] = _r_matrix(sp.csr_matrix((gcsc.data, gcsc.indices, gcsc.indptr), shape=g.shape[::-1]),
                                  cells_r, cells_r, f"obsp[{k!r}]")  # fmt: skip
        rec["obsp"][gname] = {"key": k, **spec}
        if gname != f"{assay}_{k}":
            log.add("renamed", "graph", f"{assay}_{k}", gname, "Seurat needs syntactic R names")

    uns_r = _r_uns(uns, "", log)
    misc = _r_list({"record": _ri().StrSexpVector([json.dumps(rec)]), "uns": uns_r})
    ri = _ri()
    obj = _call(
        "hb_to_seurat", assay, data,
        counts=counts if counts is not None else ri.NULL,
        scale_data=scale if scale is not None else ri.NULL,
        layers=_r_list(layers) if layers else ri.ListSexpVector([]),
        var=var_r, obs=obs_r,
        reductions=ri.ListSexpVector(reductions) if reductions else ri.ListSexpVector([]),
        graphs=_r_list(graphs) if graphs else ri.ListSexpVector([]),
        extra_assays=_r_list(extra) if extra else ri.ListSexpVector([]),
        misc=misc, version=version, project=project,
        what="building the Seurat object",
    )  # fmt: skip
    log._warn()
    return (obj, log) if return_log else obj


# ---- Seurat -> AnnData ----------------------------------------------------------------------


def from_seurat(obj: Any, *, assay: str | None = None, join_layers: bool = True, return_log: bool = False) -> Any:
    """Convert a Seurat object (rpy2) to an AnnData.

    Parameters
    ----------
    obj
        A Seurat object (v4 ``Assay`` or v5 ``Assay5``); it is not modified.
    assay
        The assay to read (default: the object's default assay). Other assays are left out
        (logged), except the ``<assay>_raw`` assay written by :func:`to_seurat`, which becomes ``raw``.
    join_layers
        v5 assays with split layers (``counts.1``, ``counts.2``, ...) are joined with
        ``JoinLayers`` on a copy (logged); with False they are refused.
    return_log
        Return ``(adata, log)`` with the :class:`ConversionLog` instead of the AnnData alone.

    Returns
    -------
    The AnnData, or ``(adata, ConversionLog)``. Objects written by :func:`to_seurat` come back
    exactly (names, dtypes and keys from ``Misc(obj, "harmonybridge")``); others by the name map.
    """
    ri = _ri()
    if not hasattr(obj, "rclass") or "Seurat" not in _rclass(obj):
        cls = _rclass(obj) if hasattr(obj, "rclass") else [type(obj).__name__]
        msg = f"from_seurat needs a Seurat object, not {cls[0]!r}; for an .rds file use read_rds(path)"
        raise TypeError(msg)
    parts = _call("hb_from_seurat", obj, assay=assay if assay is not None else ri.NULL, join=join_layers,
                  what="reading the Seurat object")  # fmt: skip
    log = ConversionLog("Seurat -> AnnData")
    return _assemble(parts, log, return_log)


def _read_record(parts: Any, assay: str) -> tuple[dict[str, Any] | None, Any]:
    misc = _get(parts, "misc")
    if _is_null(misc) or misc.typeof != _ri().RTYPES.VECSXP:
        return None, None
    rec_r = _get(misc, "record")
    if _is_null(rec_r):
        return None, None
    rec = json.loads(str(rec_r[0]))
    if rec.get("format") != RECORD_FORMAT or rec.get("assay") != assay:
        return None, _get(misc, "uns")
    return rec, _get(misc, "uns")


def _restore_features(seurat_names: np.ndarray, original: list[str] | None) -> pd.Index:
    if original is not None and len(original) == len(seurat_names):
        if all(_seurat_feature_name(o) == s for o, s in zip(original, seurat_names, strict=True)):
            return pd.Index(original)
    return pd.Index(seurat_names)


def _assemble(parts: Any, log: ConversionLog, return_log: bool) -> Any:
    assay = str(_get(parts, "assay")[0])
    rec, uns_r = _read_record(parts, assay)
    rec = rec or {}
    for name in _py_strings(_get(parts, "joined"))[0] if len(_get(parts, "joined")) else []:
        log.add("joined", "layers", name, reason="split v5 layers joined with JoinLayers on a copy")
    cells, _ = _py_strings(_get(parts, "cells"))
    seurat_features, _ = _py_strings(_get(parts, "features"))
    features = _restore_features(seurat_features, rec.get("features"))
    if rec.get("features") and not features.equals(pd.Index(seurat_features)):
        log.add("restored", "features", f"{int((features != seurat_features).sum())} feature names", "their AnnData names")
    n_obs, n_vars = len(cells), len(features)
    shape = (n_obs, n_vars)

    data = _get(parts, "data")
    counts = _get(parts, "counts")
    if _is_null(data) and _is_null(counts):
        msg = f"assay {assay!r} has neither a data nor a counts layer; nothing to put in X"
        raise ValueError(msg)
    if _is_null(data):
        X = _py_matrix(counts, rec.get("layers", {}).get("counts"), shape)
        log.add("moved", "counts", "counts", "X", "the assay has no data layer")
    else:
        X = _py_matrix(data, rec.get("X"), shape)
    layers = {}
    if not _is_null(counts) and not _is_null(data):
        layers["counts"] = _py_matrix(counts, rec.get("layers", {}).get("counts"), shape)
    uns_extra: dict[str, Any] = {}
    scale = _get(parts, "scale_data")
    if not _is_null(scale):
        sd_where = (rec.get("scale_data") or {}).get("where")
        sd_dim = _rbridge.to_numpy(_attr(scale, "dim"))
        if sd_where == "layer" or (sd_where is None and int(sd_dim[0]) == n_vars):
            layers["scale.data"] = _py_matrix(scale, rec.get("layers", {}).get("scale.data") or {"format": "dense"}, shape)
        else:
            dimnames = _attr(scale, "dimnames")
            sd_feats = _restore_scale_features(_py_strings(dimnames[0])[0], seurat_features, features)
            dtype = (rec.get("scale_data") or {}).get("dtype", "float64")
            sd_data = _py_matrix(scale, {"format": "dense", "dtype": dtype}, (n_obs, len(sd_feats)))
            order = (rec.get("scale_data") or {}).get("features")
            if order is not None and sorted(order) == sorted(sd_feats):  # Seurat keeps its feature order
                perm = pd.Index(sd_feats).get_indexer(order)
                sd_feats, sd_data = [sd_feats[i] for i in perm], sd_data[:, perm]
            uns_extra["scale.data"] = {"features": np.asarray(sd_feats, dtype=object), "data": sd_data}
            if sd_where is None:
                log.add("moved", "scale.data", f"scale.data ({len(sd_feats)} features)", "uns['seurat']['scale.data']",
                        "it does not cover all features; AnnData layers must")  # fmt: skip
    other = _get(parts, "layers")
    for i, name in enumerate(_names(other)):
        layers[name] = _py_matrix(other[i], rec.get("layers", {}).get(name), shape)

    obs_index = pd.Index(cells, name=(rec.get("obs_index") or {}).get("name"))
    var_index = pd.Index(features, name=(rec.get("var_index") or {}).get("name"))
    obs = _py_frame(_get(parts, "obs"), obs_index, rec.get("obs"), "obs", log)
    var = _py_frame(_get(parts, "var"), var_index, rec.get("var"), "var", log)
    if not rec:
        vf = _get(parts, "variable_features")
        if len(vf) and "highly_variable" not in var.columns:
            var["highly_variable"] = var.index.isin(_restore_features(_py_strings(vf)[0], None))
            log.add("moved", "VariableFeatures", f"{len(vf)} features", "var['highly_variable']")

    adata = AnnData(X=X, obs=obs, var=var, layers=layers or None)

    # reductions
    reds = _get(parts, "reductions")
    uns_pca_variance = None
    for i, name in enumerate(_names(reds)):
        r = reds[i]
        spec = (rec.get("obsm") or {}).get(name, {})
        key = spec.get("key") or _OBSM_OF.get(name) or f"X_{name}"
        emb = _get(r, "embeddings")
        edim = _rbridge.to_numpy(_attr(emb, "dim"))
        if int(edim[0]) != n_obs:
            log.add("dropped", "reduction", name, reason=f"{int(edim[0])} cells, not {n_obs}")
            continue
        arr = _rbridge.to_numpy(emb, np.dtype(spec.get("dtype", "float64"))).reshape(int(edim[1]), int(edim[0])).T.copy()
        adata.obsm[key] = sp.csr_matrix(arr) if spec.get("sparse") else arr
        loadings = _get(r, "loadings")
        if key == "X_pca" and not _is_null(loadings):
            ldim = _rbridge.to_numpy(_attr(loadings, "dim"))
            lmat = _rbridge.to_numpy(loadings).reshape(int(ldim[1]), int(ldim[0])).T
            lfeats = _py_strings(_attr(loadings, "dimnames")[0])[0]
            pos = pd.Index(seurat_features).get_indexer(lfeats)
            full = np.zeros((n_vars, lmat.shape[1]), dtype=np.dtype((rec.get("varm_PCs") or {}).get("dtype", "float64")))
            ok = pos >= 0
            full[pos[ok]] = lmat[ok]
            if not rec and ok.sum() < n_vars:
                log.add("moved", "pca loadings", f"{int(ok.sum())} features", "varm['PCs']", "other features filled with 0 (scanpy's convention)")
            adata.varm["PCs"] = full
        elif not _is_null(loadings) and len(loadings):
            log.add("dropped", "reduction loadings", name, reason="only pca loadings map to varm['PCs']")
        stdev = _get(r, "stdev")
        if key == "X_pca" and len(stdev):
            uns_pca_variance = _rbridge.to_numpy(stdev) ** 2
    # graphs
    graphs = _get(parts, "graphs")
    for i, gname in enumerate(_names(graphs)):
        spec = (rec.get("obsp") or {}).get(gname, {})
        key = spec.get("key") or (gname[len(assay) + 1:] if gname.startswith(f"{assay}_") else gname)
        g = graphs[i]
        gd = _rbridge.to_numpy(g.do_slot("Dim"))
        if int(gd[0]) != n_obs or int(gd[1]) != n_obs:
            log.add("dropped", "graph", gname, reason="not cells x cells")
            continue
        dtype = np.dtype(spec.get("dtype", "float64"))
        m = sp.csc_matrix((_rbridge.to_numpy(g.do_slot("x"), dtype), _rbridge.to_numpy(g.do_slot("i")), _rbridge.to_numpy(g.do_slot("p"))), shape=(n_obs, n_obs))
        fmt = spec.get("format", "csr")
        adata.obsp[key] = m.toarray() if fmt == "dense" else (m if fmt == "csc" else sp.csr_matrix(m))
        if not spec and key != gname:
            log.add("moved", "graph", gname, f"obsp[{key!r}]")
    # uns
    if uns_r is not None and not _is_null(uns_r):
        uns = _py_uns(uns_r) or {}
        adata.uns = uns
    elif uns_pca_variance is not None:
        adata.uns["pca"] = {"variance": uns_pca_variance}
    if uns_extra:
        seurat_uns = dict(adata.uns.get("seurat") or {})
        seurat_uns.update(uns_extra)
        adata.uns["seurat"] = seurat_uns
    # raw
    raw_rec = rec.get("raw")
    others = [a for a in _py_strings(_get(parts, "assays"))[0] if a != assay]
    if raw_rec and raw_rec.get("assay") in others:
        others.remove(raw_rec["assay"])
        raw_parts = _get(parts, "raw")
        raw_feats_s, _ = _py_strings(_get(raw_parts, "features"))
        raw_feats = _restore_features(raw_feats_s, raw_rec.get("features"))
        raw_var = _py_frame(_get(raw_parts, "var"), pd.Index(raw_feats, name=(raw_rec.get("var_index") or {}).get("name")),
                            raw_rec.get("var"), "raw.var", log)  # fmt: skip
        raw_X = _py_matrix(_get(raw_parts, "data"), raw_rec.get("X"), (n_obs, len(raw_feats)))
        adata.raw = AnnData(X=raw_X, obs=pd.DataFrame(index=obs_index), var=raw_var)
    for a in others:
        log.add("dropped", "assay", a, reason=f"only assay {assay!r} is read; pass assay={a!r} to read it")
    log._warn()
    return (adata, log) if return_log else adata


def _restore_scale_features(sd_seurat: np.ndarray, seurat_features: np.ndarray, features: pd.Index) -> list[str]:
    pos = pd.Index(seurat_features).get_indexer(sd_seurat)
    return [features[p] if p >= 0 else s for p, s in zip(pos, sd_seurat, strict=True)]


# ---- files --------------------------------------------------------------------------------


def write_rds(
    adata: AnnData,
    path: str | os.PathLike,
    *,
    assay: str = "RNA",
    assay_version: Literal["v4", "v5"] | None = None,
    raw: Literal["assay", "drop"] = "assay",
    return_log: bool = False,
) -> Any:
    """Write ``adata`` as a Seurat object to an ``.rds`` file, atomically (see :func:`to_seurat`).

    Returns the path, or ``(path, ConversionLog)`` with ``return_log=True``.
    """
    path = _io.check_output(path, (".rds",))
    obj, log = to_seurat(adata, assay=assay, assay_version=assay_version, raw=raw, return_log=True)
    with _io.atomic_path(path) as tmp:
        _call("hb_write_rds", obj, str(tmp), what=f"writing {str(path)!r}")
    return (path, log) if return_log else path


def read_rds(path: str | os.PathLike, *, assay: str | None = None, join_layers: bool = True, return_log: bool = False) -> Any:
    """Read an ``.rds`` holding a Seurat object (or an ``.RData``/``.rda`` holding exactly one) as an AnnData (see :func:`from_seurat`).

    Returns the AnnData, or ``(adata, ConversionLog)`` with ``return_log=True``.
    """
    obj = _io.read_seurat_object(path)  # .rds, or the only Seurat object in an .RData/.rda
    return from_seurat(obj, assay=assay, join_layers=join_layers, return_log=return_log)
