"""Calling R functions: one way, by name, with every argument bound to a name first.

rpy2 builds a call with the argument *values* inlined in it; R code that deparses its call
(Seurat's ``LogSeuratCommand`` does, through ``sys.call()``) then prints whole objects, which
takes minutes on a real Seurat object. Here the arguments are assigned to symbols in a fresh
environment and a call of those symbols (``hb_read_rds(.hb1)``) is evaluated there, so a
function sees a call of a few dozen characters whatever its arguments hold.
"""

from __future__ import annotations

import functools
from typing import Any

from ._session import _LOCK, RError, console, require, robjects

#: Evaluates ``name(<symbols bound to args>)`` in a fresh child of ``where``; built once per session.
_EVAL_BY_NAME = """function(.name, .args, .where) {
  env <- new.env(parent = .where)
  syms <- sprintf(".hb%d", seq_along(.args))
  for (i in seq_along(.args)) assign(syms[[i]], .args[[i]], envir = env)
  cl <- as.call(c(list(as.name(.name)), lapply(syms, as.name)))
  arg_names <- names(.args)
  if (!is.null(arg_names)) names(cl) <- c("", arg_names)
  eval(cl, env)
}"""


@functools.cache
def _eval_by_name() -> Any:
    return robjects().r(_EVAL_BY_NAME)


def _to_r(value: Any) -> Any:
    """An R object for a Python argument: R objects as they are, None as NULL, scalars and lists by rpy2."""
    ro = robjects()
    import rpy2.rinterface as ri

    if value is None:
        return ri.NULL
    if isinstance(value, ri.Sexp):
        return value
    with ro.conversion.localconverter(ro.default_converter):
        return ro.conversion.get_conversion().py2rpy(value)


class RFunction:
    """An R function named ``name`` in package ``package``'s namespace (or in the R environment
    ``where``), called by :func:`call`."""

    def __init__(self, package: str, name: str, *, where: Any = None) -> None:
        self.package, self.name, self.where = package, name, where

    def __repr__(self) -> str:
        return f"RFunction({self.package}:::{self.name})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call it, arguments bound to names (R errors stay rpy2's; :func:`call` turns them into :class:`RError`)."""
        # The package first: it starts R (and installs the R half when needed) before any R vector is made.
        where = self.where if self.where is not None else require(self.package)
        import rpy2.rinterface as ri

        values = [_to_r(v) for v in (*args, *kwargs.values())]
        arg_list = ri.ListSexpVector(values)
        if kwargs:
            arg_list.do_slot_assign("names", ri.StrSexpVector([""] * len(args) + list(kwargs)))
        return _eval_by_name()(self.name, arg_list, where)

    def formals(self) -> list[str]:
        """The names of the function's arguments."""
        return _formals(self.package, self.name)


@functools.cache
def _formals(package: str, name: str) -> list[str]:
    ro = robjects()
    fn = require(package).find(name)
    return [str(n) for n in ro.r["names"](ro.r["formals"](fn))]


class Namespace:
    """An R package's functions as attributes: ``namespace("harmonybridge").hb_read_rds``."""

    def __init__(self, package: str) -> None:
        require(package)
        self._package = package

    def __getattr__(self, name: str) -> RFunction:
        if name.startswith("__"):
            raise AttributeError(name)
        return RFunction(self._package, name)


@functools.cache
def namespace(package: str) -> Namespace:
    """The functions of R package ``package`` (exported or not), after checking it is installed."""
    return Namespace(package)


def hb() -> Namespace:
    """harmonybridge's own R half (``r/``): every function of its namespace, exported or not."""
    return namespace("harmonybridge")


def call(fn: RFunction | str, *args: Any, what: str, **kwargs: Any) -> Any:
    """Call an R function (an :class:`RFunction`, or the name of one of the R half's) with R's
    output captured; R errors become :class:`RError`."""
    from rpy2.rinterface_lib.embedded import RRuntimeError

    if isinstance(fn, str):
        fn = RFunction("harmonybridge", fn)
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
