"""R lists, attributes and NULL, read and built without a converter."""

from __future__ import annotations

from typing import Any

from ._session import robjects


def _ri() -> Any:
    robjects()
    import rpy2.rinterface as ri

    return ri


def null() -> Any:
    """R's NULL."""
    return _ri().NULL


def is_null(x: Any) -> bool:
    ri = _ri()
    return x is None or x is ri.NULL or isinstance(x, type(ri.NULL))


def names(x: Any) -> list[str]:
    """The names of an R vector or list ([] when it has none)."""
    nm = x.do_slot("names") if "names" in list(x.list_attrs()) else None
    return [] if is_null(nm) else [str(v) for v in nm]


def get(lst: Any, name: str) -> Any:
    """An element of an R list by name, or NULL."""
    nms = names(lst)
    if name not in nms:
        return _ri().NULL
    return lst[nms.index(name)]


def attr(x: Any, name: str) -> Any:
    """An attribute of an R object, or NULL."""
    return x.do_slot(name) if name in list(x.list_attrs()) else _ri().NULL


def set_attr(x: Any, name: str, value: Any) -> Any:
    """Set an attribute in place (``value``: an R object, or a list of strings); returns ``x``."""
    ri = _ri()
    if isinstance(value, list | tuple):
        value = ri.StrSexpVector([str(v) for v in value])
    x.do_slot_assign(name, value)
    return x


def set_class(x: Any, classes: list[str]) -> Any:
    """``class(x) <- classes`` through R's ``class<-`` (so that R marks ``x`` as an object for dispatch)."""
    from ._calls import RFunction, call

    return call(RFunction("base", "class<-"), x, _ri().StrSexpVector(classes), what="setting a class")


def rclass(x: Any) -> list[str]:
    """R's class of an R object."""
    return [str(c) for c in x.rclass]


def rtype(x: Any) -> str:
    """R's SEXP type name: 'STRSXP', 'REALSXP', 'INTSXP', 'LGLSXP', 'VECSXP', ..."""
    return x.typeof.name


def is_r_object(x: Any) -> bool:
    """Whether ``x`` is an rpy2 R object (checked without starting R)."""
    return "rpy2" in type(x).__module__ and hasattr(x, "rclass")


def r_list(items: dict[str, Any] | list[Any]) -> Any:
    """An R list; named when ``items`` is a non-empty dict (None becomes NULL)."""
    ri = _ri()
    values = list(items.values()) if isinstance(items, dict) else list(items)
    out = ri.ListSexpVector([v if v is not None else ri.NULL for v in values])
    if isinstance(items, dict) and items:
        out.do_slot_assign("names", ri.StrSexpVector([str(k) for k in items]))
    return out


def scalar(x: Any, i: int = 0) -> Any:
    """Element ``i`` of an R vector as a Python value."""
    return x[i]
