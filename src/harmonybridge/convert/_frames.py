"""Data frames (``obs``, ``var``) both ways, column by column, dtypes recorded to come back exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harmonybridge import _rbridge

from ._log import ConversionLog

NA_INTEGER = _rbridge.NA_INTEGER
INT32_MAX = 2**31 - 1


def dtype_spec(s: pd.Series) -> dict[str, Any]:
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return {"kind": "category", "ordered": bool(dt.ordered), "categories": str(dt.categories.dtype)}
    if isinstance(dt, pd.StringDtype):
        spec = {"kind": "string", "storage": dt.storage}
        if getattr(dt, "na_value", pd.NA) is not pd.NA:  # pandas 3's default ``str`` (NaN for missing)
            spec["na_value"] = "nan"
        return spec
    return {"kind": "plain", "dtype": str(dt)}


def r_column(s: pd.Series, where: str, log: ConversionLog) -> Any:
    """One pandas column as an R vector, or None (dropped, logged)."""
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        cats = dt.categories
        if cats.dtype.kind not in "OUSifub" or (cats.dtype == object and pd.api.types.infer_dtype(cats) != "string"):
            log.add("dropped", where, s.name, reason=f"categories of dtype {cats.dtype} have no R factor form")
            return None
        codes = np.asarray(s.cat.codes)
        out = _rbridge.r_int(codes.astype(np.int64) + 1, na=codes < 0)
        out.do_slot_assign("levels", _rbridge.r_strings([str(c) for c in cats]))
        # class<- (not a bare attribute) so that R marks the vector as an object (factor dispatch)
        return _rbridge.set_class(out, ["ordered", "factor"] if dt.ordered else ["factor"])
    if isinstance(dt, pd.StringDtype) or (
        dt == np.dtype(object) and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty")
    ):
        na = np.asarray(s.isna())
        values = np.asarray(s.astype(object))
        return _rbridge.r_strings(["" if m else v for v, m in zip(values, na, strict=True)], na=na)
    if dt == np.dtype(object):
        log.add(
            "dropped",
            where,
            s.name,
            reason=f"mixed object column ({pd.api.types.infer_dtype(s)}); cast it to str or category",
        )
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
            np.frombuffer(out.memoryview(), dtype=np.float64)[na] = _rbridge.na_real()
        return out
    if pd.api.types.is_float_dtype(dt):
        na = np.asarray(s.isna()) if isinstance(dt, pd.api.extensions.ExtensionDtype) else None
        values = np.asarray(s.to_numpy(dtype=np.float64, na_value=np.nan))
        out = _rbridge.r_double(values)
        if na is not None and na.any():
            np.frombuffer(out.memoryview(), dtype=np.float64)[na] = _rbridge.na_real()
        return out
    log.add("dropped", where, s.name, reason=f"dtype {dt} has no R form here; cast it to str, float or category")
    return None


def r_frame(df: pd.DataFrame, where: str, r_names: list[str], log: ConversionLog) -> tuple[Any, list[list[Any]]]:
    """An R data.frame and the record [[original, r name, dtype spec], ...] of its columns."""
    cols, rec = {}, []
    for col, rname in zip(df.columns, r_names, strict=True):
        v = r_column(df[col], f"{where} column", log)
        if v is None:
            continue
        cols[rname] = v
        rec.append([col, rname, dtype_spec(df[col])])
    frame = _rbridge.call(
        "hb_data_frame",
        _rbridge.r_list(cols),
        _rbridge.r_strings(df.index.astype(str).tolist()),
        what="building a data.frame",
    )
    return frame, rec


def py_column(rvec: Any, spec: dict[str, Any] | None) -> Any:
    """One R vector as pandas values, cast as the record says (or sensible defaults)."""
    cls = _rbridge.rclass(rvec)
    kind = (spec or {}).get("kind")
    if "factor" in cls:
        codes = _rbridge.to_numpy(rvec, np.int64)
        codes = np.where(codes == NA_INTEGER, -1, codes - 1)
        levels, _ = _rbridge.py_strings(_rbridge.attr(rvec, "levels"))
        cat_dtype = (spec or {}).get("categories", "object")
        cats = pd.Index(levels, dtype=object)
        if cat_dtype != "object":
            cats = cats.astype(cat_dtype if cat_dtype != "bool" else object)
            if cat_dtype == "bool":
                cats = pd.Index([v == "True" for v in levels], dtype=bool)
        ordered = "ordered" in cls
        return pd.Categorical.from_codes(codes, categories=cats, ordered=ordered)
    typ = _rbridge.rtype(rvec)
    dtype = (spec or {}).get("dtype")
    if typ == "STRSXP":
        values, na = _rbridge.py_strings(rvec)
        if kind == "string":
            storage = (spec or {}).get("storage", "python")
            sdt = pd.StringDtype(storage, na_value=np.nan) if spec.get("na_value") == "nan" else pd.StringDtype(storage)
            values[na] = None
            return pd.array(values, dtype=sdt)
        values[na] = None
        if dtype == "object":  # recorded as object: kept so (pandas 3 would infer its ``str`` dtype)
            return pd.Series(values, dtype=object, copy=False)
        return values
    if typ == "LGLSXP":
        raw = _rbridge.to_numpy(rvec)
        na = raw == NA_INTEGER
        if dtype == "bool" or (dtype is None and not na.any()):
            return raw.astype(bool)
        return pd.arrays.BooleanArray(raw == 1, na)
    if typ == "INTSXP":
        raw = _rbridge.to_numpy(rvec)
        na = raw == NA_INTEGER
        if dtype is None:
            return pd.arrays.IntegerArray(raw, na) if na.any() else raw
        if na.any() or dtype[0] in "IU":
            return pd.arrays.IntegerArray(raw, na).astype(dtype)
        return raw.astype(dtype)
    if typ == "REALSXP":
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


def py_frame(rdf: Any, index: pd.Index, rec: list[list[Any]] | None, where: str, log: ConversionLog) -> pd.DataFrame:
    """A pandas frame from an R data.frame; columns named and typed as recorded."""
    names = _rbridge.names(rdf)
    by_rname = {r[1]: (r[0], r[2]) for r in rec or []}
    data = {}
    for i, rname in enumerate(names):
        orig, spec = by_rname.get(rname, (rname, None))
        try:
            data[orig] = py_column(rdf[i], spec)
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
