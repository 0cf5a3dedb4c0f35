"""Calling R functions: one way, by name, with every argument bound to a name first.

rpy2 builds a call with the argument *values* inlined in it; R code that deparses a call on the
stack (Seurat's ``LogSeuratCommand`` runs ``as.character()`` on the outermost one,
``sys.calls()[[1]]``) then prints whole objects, which takes minutes on a real Seurat object.
Here the arguments are bound to symbols in a fresh environment (a child of the function's
namespace) without any R call, and the text ``hb_read_rds(.hb1)`` is parsed and evaluated there
(rpy2's ``evalr``), so every call on the stack is a few dozen characters whatever the
arguments hold (``tests/test_r_calls.py`` checks it).
"""

from __future__ import annotations

import functools
from typing import Any

from ._session import _LOCK, RError, console, require, robjects


@functools.cache
def _namespace_env(package: str) -> Any:
    """The namespace environment of an installed R package."""
    import rpy2.rinterface as ri

    require(package)
    return ri.baseenv["asNamespace"](ri.StrSexpVector([package]))


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


def _bind(env: Any, name: str, value: Any) -> None:
    """``env[name] = value`` as R's own ``assign`` does it: the value itself, not a copy.

    rpy2's ``SexpEnvironment.__setitem__`` binds ``Rf_duplicate(value)``: a deep copy of every
    argument of every call (160 MB more for a 20M non-zero matrix's values, and X's pattern no
    longer shared with counts'). R's reference counting still copies before any change in place.
    """
    from rpy2.rinterface_lib import conversion, memorymanagement, openrlib

    with memorymanagement.rmemory() as rmemory:  # rpy2's own steps, less the Rf_duplicate
        cname = openrlib.ffi.new("char[]", name.encode("utf-8"))  # (rpy2's own helper changed in 3.6)
        symbol = rmemory.protect(openrlib.rlib.Rf_install(cname))
        cdata = rmemory.protect(conversion._get_cdata(value))
        openrlib.rlib.Rf_defineVar(symbol, cdata, env.__sexp__._cdata)


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
        if self.where is None:
            require(self.package)
        robjects()
        import rpy2.rinterface as ri

        parent = self.where if self.where is not None else _namespace_env(self.package)
        env = ri.baseenv["new.env"](parent=parent)
        parts = []
        for i, value in enumerate((*args, *kwargs.values())):
            symbol = f".hb{i + 1}"
            _bind(env, symbol, _to_r(value))  # bound in R without a call and without a copy
            parts.append(symbol)
        for j, name in enumerate(kwargs):
            parts[len(args) + j] = f"`{name}` = {parts[len(args) + j]}"
        # parsed and evaluated in env: the stack holds eval(expression(f(.hb1, ...)), env), never a value
        return ri.evalr(f"`{self.name}`({', '.join(parts)})", envir=env)

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
