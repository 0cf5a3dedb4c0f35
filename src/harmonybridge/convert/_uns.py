"""``uns`` both ways: nested values tagged with their Python type, carried in ``Misc(obj, "harmonybridge")$uns``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harmonybridge import _rbridge

from ._log import ConversionLog


def r_uns(value: Any, where: str, log: ConversionLog) -> Any:
    """A tagged R value (attribute ``hb_type``) for an uns item, or None (dropped, logged)."""

    def tag(x: Any, t: str) -> Any:
        x.do_slot_assign("hb_type", _rbridge.r_strings([t]))
        return x

    if isinstance(value, dict):
        items = {}
        for k, v in value.items():
            if not isinstance(k, str):
                log.add("dropped", "uns", f"{where}/{k!r}", reason="non-string key")
                continue
            r = r_uns(v, f"{where}/{k}", log)
            if r is not None:
                items[k] = r
        out = _rbridge.r_list(items) if items else _rbridge.r_list([])
        if not items:
            out.do_slot_assign("names", _rbridge.r_strings([]))
        return tag(out, "dict")
    if value is None:  # e.g. uns['log1p']['base'], None by default: carried as a tagged empty vector
        return tag(_rbridge.logicals([]), "none")
    if isinstance(value, (str, np.str_)):
        return tag(_rbridge.r_strings([str(value)]), "str")
    if isinstance(value, (bool, np.bool_)):
        return tag(_rbridge.logicals([bool(value)]), "bool")
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return tag(_rbridge.r_double(np.array([value], dtype=np.float64)), f"int:{np.asarray(value).dtype}")
    if isinstance(value, (float, np.floating)):
        return tag(_rbridge.r_double(np.array([value], dtype=np.float64)), f"float:{np.asarray(value).dtype}")
    if isinstance(value, np.ndarray) and value.ndim <= 2:
        dt = value.dtype
        if dt.kind in "biuf":
            out = (
                _rbridge.r_double(value.reshape(-1, order="F"))
                if dt.kind != "b"
                else _rbridge.r_int(value.reshape(-1, order="F"), kind="logical")
            )
        elif dt.kind in "OUS" and (value.size == 0 or pd.api.types.infer_dtype(value.ravel()) == "string"):
            out = _rbridge.r_strings([str(v) for v in value.reshape(-1, order="F")])
        else:
            log.add("dropped", "uns", where, reason=f"array of dtype {dt} has no R form")
            return None
        if value.ndim == 2:
            out.do_slot_assign("dim", _rbridge.integers(list(value.shape)))
        return tag(out, f"ndarray:{dt.str}:{value.ndim}")
    if isinstance(value, (list, tuple)):
        items = [r_uns(v, f"{where}[{i}]", log) for i, v in enumerate(value)]
        if any(i is None for i in items):
            return None
        return tag(_rbridge.r_list(items), type(value).__name__)
    log.add("dropped", "uns", where, reason=f"{type(value).__name__} is not carried to R")
    return None


def py_uns(x: Any) -> Any:
    t = _rbridge.attr(x, "hb_type")
    tag = "" if _rbridge.is_null(t) else str(t[0])
    if tag == "dict" or (not tag and _rbridge.rtype(x) == "VECSXP" and _rbridge.names(x)):
        return {k: py_uns(x[i]) for i, k in enumerate(_rbridge.names(x))}
    if tag in ("list", "tuple") or _rbridge.rtype(x) == "VECSXP":
        items = [py_uns(v) for v in x]
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
            flat, _ = _rbridge.py_strings(x)
            flat = flat.astype(dt) if dt.kind != "O" else flat
        elif dt.kind == "b":
            flat = _rbridge.to_numpy(x).astype(bool)
        else:
            flat = _rbridge.to_numpy(x, dt)
        if ndim == "2":
            dim = _rbridge.to_numpy(_rbridge.attr(x, "dim"))
            return flat.reshape(int(dim[0]), int(dim[1]), order="F")
        return flat
    # untagged R value (made in R)
    if _rbridge.rtype(x) == "STRSXP":
        vals, _ = _rbridge.py_strings(x)
        return vals[0] if len(vals) == 1 else vals
    if _rbridge.rtype(x) in ("REALSXP", "INTSXP", "LGLSXP"):
        arr = _rbridge.to_numpy(x)
        if _rbridge.rtype(x) == "LGLSXP":
            arr = arr.astype(bool)
        return arr[0] if len(arr) == 1 else arr
    return None
