"""The rpy2 side of the Seurat session (:mod:`harmonybridge.session`), markers and label transfer.

R functions are called by name on objects bound to symbols in a fresh R environment
(``hb_session_eval`` in the R half's ``r/R/session.R``), never with an object inlined in the call: Seurat's
``LogSeuratCommand`` deparses the call, which takes minutes on a real object otherwise.
Python values become R values with :func:`py2r`; results come back with :func:`r2py`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._calls import call
from ._session import RError, require, robjects
from ._vectors import factor, float_matrix, matrix_to_numpy, to_numpy

INT32_MAX = 2**31 - 1


def rcall(name: str, *args: Any, what: str) -> Any:
    """Call the R half's ``hb_session_<name>`` (r/R/session.R), arguments bound to names (R errors
    become :class:`RError`)."""
    require("SeuratObject")
    return call(f"hb_session_{name}", *args, what=what)


def _ri() -> Any:
    robjects()
    import rpy2.rinterface as ri

    return ri


def is_null(x: Any) -> bool:
    ri = _ri()
    return x is ri.NULL or isinstance(x, type(ri.NULL))


def is_r(x: Any) -> bool:
    """Whether ``x`` is already an R object (an rpy2 ``Sexp``)."""
    return isinstance(x, _ri().Sexp)


def r_class(x: Any) -> list[str]:
    return [str(c) for c in x.rclass] if hasattr(x, "rclass") else [type(x).__name__]


def get(lst: Any, name: str) -> Any:
    """An element of an R list by name (NULL when absent)."""
    names = list(lst.names) if not is_null(lst.names) else []
    return lst[names.index(name)] if name in names else _ri().NULL


def strings(x: Any) -> list[str]:
    return [] if is_null(x) else [str(v) for v in x]


def flag(x: Any) -> bool:
    return bool(x[0])


# ---- Python -> R -------------------------------------------------------------------------


def py2r(value: Any, where: str = "argument") -> Any:
    """A Python value as an R value.

    None -> NULL; bool/int/float/str -> length-1 logical/integer/double/character; a list or
    tuple of such (one kind) -> an atomic vector, mixed -> a list; ``range`` -> integer vector
    (``range(1, 31)`` is R's ``1:30``); dict -> named list; NumPy 1-D -> vector, 2-D -> matrix;
    pandas Series -> named vector (categorical -> factor); DataFrame -> data.frame; rpy2
    objects pass as they are.
    """
    ri = _ri()
    if value is None:
        return ri.NULL
    if is_r(value):
        return value
    if isinstance(value, bool | np.bool_):
        return ri.BoolSexpVector([bool(value)])
    if isinstance(value, int | np.integer):
        return ri.IntSexpVector([int(value)]) if abs(int(value)) <= INT32_MAX else ri.FloatSexpVector([float(value)])
    if isinstance(value, float | np.floating):
        return ri.FloatSexpVector([float(value)])
    if isinstance(value, str):
        return ri.StrSexpVector([value])
    if isinstance(value, range):
        return ri.IntSexpVector(list(value))
    if isinstance(value, dict):
        out = ri.ListSexpVector([py2r(v, f"{where}[{k!r}]") for k, v in value.items()])
        out.do_slot_assign("names", ri.StrSexpVector([str(k) for k in value]))
        return out
    if isinstance(value, pd.Series):
        vec = _series(value, where)
        vec.do_slot_assign("names", ri.StrSexpVector([str(i) for i in value.index]))
        return vec
    if isinstance(value, pd.DataFrame):
        import rpy2.robjects as ro
        from rpy2.robjects import pandas2ri
        from rpy2.robjects.conversion import localconverter

        with localconverter(ro.default_converter + pandas2ri.converter) as cv:
            return cv.py2rpy(value)
    if isinstance(value, np.ndarray):
        if value.ndim == 1:
            return py2r(value.tolist(), where) if value.dtype.kind in "biufUSO" else _unsupported(value, where)
        if value.ndim == 2 and value.dtype.kind in "biuf":
            return float_matrix(np.asarray(value, dtype=np.float64).T.copy(), value.shape[0], value.shape[1])
        return _unsupported(value, where)
    if isinstance(value, list | tuple):
        items = list(value)
        if not items:
            return ri.ListSexpVector([])
        if all(isinstance(v, str) for v in items):
            return ri.StrSexpVector(items)
        if all(isinstance(v, bool | np.bool_) for v in items):
            return ri.BoolSexpVector([bool(v) for v in items])
        if all(isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_) for v in items):
            if all(abs(int(v)) <= INT32_MAX for v in items):
                return ri.IntSexpVector([int(v) for v in items])
        if all(
            isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_) for v in items
        ):
            return ri.FloatSexpVector([float(v) for v in items])
        return ri.ListSexpVector([py2r(v, f"{where}[{i}]") for i, v in enumerate(items)])
    return _unsupported(value, where)


def _series(s: pd.Series, where: str) -> Any:
    ri = _ri()
    if isinstance(s.dtype, pd.CategoricalDtype):
        return factor(np.asarray(s.cat.codes), [str(c) for c in s.cat.categories], ordered=bool(s.cat.ordered))
    if s.isna().any():
        msg = f"{where}: a pandas Series with missing values cannot cross to R here; fill or drop them first"
        raise ValueError(msg)
    return py2r(s.tolist(), where) if len(s) else ri.ListSexpVector([])


def _unsupported(value: Any, where: str) -> Any:
    hint = ""
    if type(value).__name__ == "AnnData":
        hint = "; pass a SeuratSession, or hb.to_seurat(adata)"
    msg = (
        f"{where}: cannot pass a {type(value).__name__} to R{hint} (supported: None, bool, int, float, str, "
        "lists, dicts, range, NumPy arrays, pandas Series/DataFrame, rpy2 objects)"
    )
    raise TypeError(msg)


# ---- R -> Python -------------------------------------------------------------------------


def r2py(value: Any) -> Any:
    """An R value as Python: NULL -> None, a data.frame -> pandas (row names as index, factors as
    categoricals), anything else through rpy2's default + NumPy conversion."""
    import rpy2.robjects as ro
    from rpy2.robjects import numpy2ri, pandas2ri
    from rpy2.robjects.conversion import localconverter

    if is_null(value):
        return None
    if flag(rcall("is_data_frame", value, what="reading the result")):
        with localconverter(ro.default_converter + pandas2ri.converter) as cv:
            df = cv.rpy2py(value)
        return df
    with localconverter(ro.default_converter + numpy2ri.converter) as cv:
        return cv.rpy2py(value)


# ---- calling an R function by name -------------------------------------------------------


@dataclass(frozen=True)
class SeuratFunction:
    """An R function found by name: the closure, its package, its name and its argument names."""

    fun: Any
    package: str
    name: str
    args: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{self.package}::{self.name}"


def find_function(name: str, classes: list[str] | None = None) -> SeuratFunction | None:
    """``name`` in Seurat then SeuratObject ("Fn"), or in the package named ("pkg::Fn"); None if absent."""
    ri = _ri()
    res = rcall("find", name, ri.StrSexpVector(classes or []), what=f"looking up R function {name!r}")
    if is_null(res):
        return None
    return SeuratFunction(
        get(res, "fun"), str(get(res, "package")[0]), str(get(res, "name")[0]), tuple(strings(get(res, "args")))
    )


def evaluate(fn: SeuratFunction, args: list[tuple[str, Any]]) -> tuple[Any, list[str]]:
    """``fn(<args>)`` with each argument bound to a symbol in a fresh environment.

    ``args`` holds (R argument name or "" for positional, R value). Returns the R value and R's
    warnings. R errors become :class:`RError` naming the function.
    """
    ri = _ri()
    lst = ri.ListSexpVector([v for _, v in args])
    lst.do_slot_assign("names", ri.StrSexpVector([n for n, _ in args]))
    # Even the outermost call must be of symbols: SeuratObject's LogSeuratCommand runs
    # as.character() on sys.calls()[[1]], which would deparse an object inlined there.
    env = ri.baseenv["new.env"](parent=ri.baseenv)
    env[".hbs_eval"], env[".hbs_fun"] = require("harmonybridge").find("hb_session_eval"), fn.fun
    env[".hbs_name"], env[".hbs_args"] = ri.StrSexpVector([fn.name]), lst
    res = call(ri.evalr_expr, _eval_call(), env, what=fn.qualified)
    return get(res, "value"), strings(get(res, "warnings"))


@functools.cache
def _eval_call() -> Any:
    """The call ``.hbs_eval(.hbs_fun, .hbs_name, .hbs_args)``, parsed once (a constant, no data)."""
    ri = _ri()
    return ri.baseenv["parse"](
        text=ri.StrSexpVector([".hbs_eval(.hbs_fun, .hbs_name, .hbs_args)"]),
        **{"keep.source": ri.BoolSexpVector([False])},
    )


# ---- reading a session's object ------------------------------------------------------------


def is_seurat(x: Any) -> bool:
    return is_r(x) and flag(rcall("is_seurat", x, what="checking the result"))


def assays(obj: Any) -> list[str]:
    return strings(rcall("assays", obj, what="listing assays"))


def default_assay(obj: Any) -> str:
    return str(rcall("default_assay", obj, what="reading DefaultAssay")[0])


def diff(old: Any, new: Any, assay: str) -> dict[str, Any]:
    """What changed between two Seurat objects (names of meta.data columns, layers, ...)."""
    res = rcall("diff", old, new, assay, what="comparing the session's object with the one it started from")
    out: dict[str, Any] = {}
    for key in res.names:
        v = get(res, key)
        out[key] = flag(v) if v.typeof == _ri().RTYPES.LGLSXP else strings(v)
    out["default_assay"] = out["default_assay"][0]
    return out


def variable_features(obj: Any, assay: str) -> list[str]:
    return strings(rcall("variable_features", obj, assay, what="reading VariableFeatures"))


def idents(obj: Any) -> tuple[pd.Categorical, list[str]]:
    res = rcall("idents", obj, what="reading Idents")
    f = get(res, "idents")
    codes = to_numpy(f, np.int64) - 1
    return pd.Categorical.from_codes(codes, categories=strings(f.do_slot("levels"))), strings(get(res, "same_as"))


def reduction(obj: Any, name: str) -> dict[str, Any]:
    """A reduction as NumPy: embeddings (cells x k), loadings (features x k) with their feature
    names, stdev, key and assay."""
    res = rcall("reduction", obj, name, what=f"reading reduction {name!r}")
    emb = get(res, "embeddings")
    out: dict[str, Any] = {
        "embeddings": matrix_to_numpy(emb).T.copy(),
        "cells": strings(get(res, "cells")),
        "stdev": to_numpy(get(res, "stdev")) if len(get(res, "stdev")) else None,
        "key": str(get(res, "key")[0]),
        "assay": strings(get(res, "assay"))[0] if len(get(res, "assay")) else "",
        "loadings": None,
        "features": [],
    }
    ld = get(res, "loadings")
    if not is_null(ld):
        out["loadings"] = matrix_to_numpy(ld).T.copy()
        out["features"] = strings(ld.do_slot("dimnames")[0])
    return out


def graph(obj: Any, name: str) -> tuple[Any, list[str]]:
    """A Seurat Graph as a SciPy CSR matrix and its cell names."""
    import scipy.sparse as sp

    res = rcall("graph", obj, name, what=f"reading graph {name!r}")
    g = get(res, "graph")
    n = int(to_numpy(g.do_slot("Dim"))[0])
    m = sp.csc_matrix(
        (to_numpy(g.do_slot("x")), to_numpy(g.do_slot("i")), to_numpy(g.do_slot("p"))),
        shape=(n, n),
    )
    return m.tocsr(), strings(get(res, "cells"))


__all__ = ["RError", "SeuratFunction", "evaluate", "find_function", "py2r", "r2py"]
