"""SeuratSession, call_seurat and call_r: R functions called by name on a Seurat object made from an AnnData."""

from __future__ import annotations

import logging
from typing import Any, Literal

from anndata import AnnData

from harmonybridge._core.counts import is_counts
from harmonybridge._core.warnings import ConversionWarning, warn
from harmonybridge._rbridge import seurat_calls as rs
from harmonybridge.convert import ConversionLog, to_seurat

from ._writeback import apply, collect

logger = logging.getLogger("harmonybridge")


class RWarning(UserWarning):
    """A warning R raised during a session call (the message names the function)."""


class SeuratSession:
    """A Seurat object made once from an AnnData, on which R functions are called by name.

    Parameters
    ----------
    adata
        The AnnData. Nothing in it changes until :meth:`to_anndata` (or the end of the ``with``
        block) writes the results, and never when ``copy=True``, nor after an error.
    assay
        Name of the Seurat assay that holds it.
    counts
        Where the raw counts are: a layer name, ``"X"``, ``None`` (no counts; ``X`` only as
        ``data``) or ``"auto"``: ``layers["counts"]`` when present, else ``X`` when it holds
        non-negative integers (said in ``s.log``), else none.
    copy
        Write the results into a copy of ``adata`` (``s.adata``) instead of ``adata``.
    assay_version
        ``"v4"`` or ``"v5"`` (see :func:`~harmonybridge.to_seurat`); default: SeuratObject's.

    Calling
    -------
    ``s.Fn(*args, **kwargs)`` calls Seurat's (else SeuratObject's) exported ``Fn`` with the
    session's object as first argument; ``s.call("pkg::Fn", ...)`` any installed package's.
    Keyword names: a name that is one of the function's arguments (of the generic or of its
    method for a Seurat object) is used as is; else ``_`` becomes ``.`` (``only_pos`` ->
    ``only.pos``, ``vars_to_regress`` -> ``vars.to.regress``), also for arguments that go
    through ``...``; ``r_args={"n_genes": 2000}`` passes names verbatim. Values: None ->
    NULL, bool/int/float/str -> length-1 vectors, lists -> vectors (mixed -> list),
    ``range(1, 31)`` -> ``1:30``, dicts -> named lists, NumPy arrays -> vectors/matrices,
    pandas Series -> named vectors (categorical -> factor), DataFrames -> data.frames,
    another SeuratSession -> its object, rpy2 objects as they are. Feature names are
    Seurat's (``_`` turned into ``-``).

    A call that returns a Seurat object replaces the session's object and returns None; a
    data.frame comes back as a pandas DataFrame (row names as index, factors as
    categoricals); other values through rpy2's conversion. R errors raise
    :class:`~harmonybridge._rbridge.RError` with R's message and the function's name; R
    warnings become :class:`RWarning`. The arguments bind to names in a fresh R environment,
    so the call Seurat logs (``obj@commands``) is ``Fn(object, nfeatures = nfeatures)``,
    never the object itself.
    """

    def __init__(
        self,
        adata: AnnData,
        *,
        assay: str = "RNA",
        counts: str | None = "auto",
        copy: bool = False,
        assay_version: Literal["v4", "v5"] | None = None,
    ) -> None:
        if not isinstance(adata, AnnData):
            msg = f"SeuratSession needs an AnnData, not {type(adata).__name__}"
            raise TypeError(msg)
        self.assay = assay
        self.copy = copy
        self._adata = adata
        self._result: AnnData | None = None
        self.log = ConversionLog("Seurat session")
        self.assays: dict[str, AnnData] = {}
        self.calls: list[str] = []
        self._functions: dict[str, rs.SeuratFunction] = {}
        self._counts = self._counts_source(adata, counts)
        conv = self._for_conversion(adata, self._counts)
        self._obj, log = to_seurat(conv, assay=assay, assay_version=assay_version, return_log=True)
        self.log.entries.extend(log.entries)
        self._start = self._obj
        self._dirty = False

    # ---- set-up ----------------------------------------------------------------------------

    def _counts_source(self, adata: AnnData, counts: str | None) -> str | None:
        if counts == "auto":
            if "counts" in adata.layers:
                counts = "counts"
            elif adata.X is not None and is_counts(adata.X):
                counts = "X"
                self.log.add("moved", "counts", "X", "Seurat counts (and data)", "X holds non-negative integers")
            else:
                counts = None
        if counts is not None and counts != "X" and counts not in adata.layers:
            msg = (
                f"counts={counts!r} is not a layer of adata; layers: {list(adata.layers)}; "
                "pass 'X', a layer name or None"
            )
            raise KeyError(msg)
        return counts

    @staticmethod
    def _for_conversion(adata: AnnData, counts: str | None) -> AnnData:
        if counts in (None, "counts"):
            return adata
        layers = {k: v for k, v in adata.layers.items() if k not in (counts, "counts") and k is not None}
        layers["counts"] = adata.X if counts == "X" else adata.layers[counts]
        conv = AnnData(
            X=adata.X,
            obs=adata.obs,
            var=adata.var,
            uns=adata.uns,
            obsm=dict(adata.obsm),
            varm=dict(adata.varm),
            obsp=dict(adata.obsp),
            layers=layers,
        )
        if adata.raw is not None:
            conv.raw = adata.raw
        return conv

    # ---- calling ---------------------------------------------------------------------------

    @property
    def obj(self) -> Any:
        """The session's Seurat object (an rpy2 object)."""
        return self._obj

    @property
    def adata(self) -> AnnData:
        """The AnnData the results go into: the one given, or its copy with ``copy=True``."""
        if self.copy:
            if self._result is None:
                self._result = self._adata.copy()
            return self._result
        return self._adata

    def function(self, name: str) -> rs.SeuratFunction:
        """The R function ``name`` ("Fn" in Seurat/SeuratObject, or "pkg::Fn"), or a ValueError."""
        if name not in self._functions:
            fn = rs.find_function(name, rs.r_class(self._obj))
            if fn is None:
                where = "Seurat or SeuratObject" if "::" not in name else f"package {name.split('::')[0]!r}"
                hint = "" if "::" in name else "; for another package call s.call('pkg::name', ...)"
                msg = f"no exported R function {name!r} in {where}{hint}"
                raise ValueError(msg)
            self._functions[name] = fn
        return self._functions[name]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            self.function(name)
        except ValueError as err:
            raise AttributeError(str(err)) from None

        def caller(*args: Any, **kwargs: Any) -> Any:
            return self.call(name, *args, **kwargs)

        caller.__name__ = caller.__qualname__ = name
        caller.__doc__ = f"Call R's {self._functions[name].qualified} on the session's object (see SeuratSession)."
        return caller

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._functions))

    def call(self, name: str, *args: Any, r_args: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Call R function ``name`` with the session's object first (see the class docstring)."""
        fn = self.function(name)
        named = _r_kwargs(fn, kwargs, r_args)
        self._check_assays(fn, named)
        self._check_counts(fn, named)
        value, shown = _invoke(fn, [self._obj, *args], named)
        self.calls.append(f"{fn.qualified}({shown})"[:300])
        if rs.is_seurat(value):
            self._obj = value
            self._dirty = True
            return None
        return rs.r2py(value)

    def _check_assays(self, fn: rs.SeuratFunction, named: dict[str, Any]) -> None:
        present = rs.assays(self._obj)
        for key in ("assay", "assays"):
            value = named.get(key)
            wanted = [value] if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else []
            missing = [a for a in wanted if isinstance(a, str) and a not in present]
            if missing:
                msg = f"{fn.qualified}: assay {missing[0]!r} is not in the session's Seurat object; assays: {present}"
                raise KeyError(msg)

    def _check_counts(self, fn: rs.SeuratFunction, named: dict[str, Any]) -> None:
        """NormalizeData and SCTransform start from counts: say so before Seurat's own error."""
        if fn.name not in _FROM_COUNTS or self._counts is not None or named.get("assay", self.assay) != self.assay:
            return
        msg = (
            f"{fn.qualified} starts from raw counts, but this session has none: adata.X went in as "
            f"Seurat's data (it is not integer counts) and adata.layers has no 'counts'. Give the counts "
            f"(SeuratSession(adata, counts='<layer>')), or leave {fn.name} out: X is already normalized"
        )
        raise ValueError(msg)

    # ---- results ---------------------------------------------------------------------------

    def to_anndata(self) -> AnnData:
        """Write what the calls added or changed into the AnnData (``s.adata``) and return it.

        New assays go to ``s.assays`` (see the module docstring). Everything is read from R
        first and written only when all of it was read, so an error leaves the AnnData as it was.
        """
        log = ConversionLog("Seurat session -> AnnData")
        updates = collect(self, log)
        target = self.adata
        apply(target, updates, self._counts == "X", self.log)
        self.assays = {self.assay: target, **updates["assays"]}
        self.log.entries.extend(log.entries)
        self._dirty = False
        lossy = log.of("dropped")
        if lossy:
            shown = "; ".join(str(e) for e in lossy[:5])
            warn(
                f"Seurat session -> AnnData: {len(lossy)} item(s) not brought back: {shown} (s.log lists all)",
                ConversionWarning,
            )
        return target

    def __enter__(self) -> SeuratSession:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is None and self._dirty:
            self.to_anndata()
        return False

    def __repr__(self) -> str:
        return f"SeuratSession({self._adata.n_obs} cells, assay {self.assay!r}, {len(self.calls)} call(s))"


#: Seurat functions that read the assay's counts.
_FROM_COUNTS = ("NormalizeData", "SCTransform")


def _r_kwargs(fn: rs.SeuratFunction, kwargs: dict[str, Any], r_args: dict[str, Any] | None) -> dict[str, Any]:
    """Keyword names as R spells them: the name if it is an argument, else with ``_`` -> ``.``."""
    named = {}
    for name, value in kwargs.items():
        dotted = name.replace("_", ".")
        if name in fn.args:
            named[name] = value
        elif dotted in fn.args or "..." in fn.args:
            named[dotted] = value
        else:
            shown = [a for a in fn.args if a != "..."]
            msg = f"{fn.qualified} has no argument {name!r} (nor {dotted!r}); its arguments: {shown}"
            raise TypeError(msg)
    named.update(r_args or {})
    return named


def _invoke(fn: rs.SeuratFunction, args: list[Any], named: dict[str, Any]) -> tuple[Any, str]:
    """``fn(*args, **named)`` in R (values converted); R warnings become :class:`RWarning`."""

    def value(v: Any, where: str) -> Any:
        return v.obj if isinstance(v, SeuratSession) else rs.py2r(v, where)

    rargs = [("", value(a, f"{fn.qualified} argument {i + 1}")) for i, a in enumerate(args)]
    rargs += [(k, value(v, f"{fn.qualified}({k}=...)")) for k, v in named.items()]
    result, r_warnings = rs.evaluate(fn, rargs)
    for w in r_warnings:
        warn(f"{fn.qualified}: {w}", RWarning)
    shown = ", ".join([*(repr(a) for a in args[1:]), *(f"{k}={v!r}" for k, v in named.items())])
    return result, shown


def call_r(function: str, *args: Any, r_args: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """Call an R function by name on values that are not one session's object (e.g.
    ``TransferData(anchorset, refdata)``), with the names and values of :class:`SeuratSession`.
    A SeuratSession as an argument passes its object. Returns the value as ``s.call`` would
    (a Seurat object stays an rpy2 object)."""
    fn = rs.find_function(function)
    if fn is None:
        msg = f"no exported R function {function!r}" + ("" if "::" in function else " in Seurat or SeuratObject")
        raise ValueError(msg)
    value, _ = _invoke(fn, list(args), _r_kwargs(fn, kwargs, r_args))
    return value if rs.is_seurat(value) else rs.r2py(value)


def call_seurat(
    adata: AnnData,
    function: str,
    *args: Any,
    assay: str = "RNA",
    counts: str | None = "auto",
    copy: bool = False,
    **kwargs: Any,
) -> Any:
    """Call one R function on ``adata`` as a Seurat object: ``SeuratSession`` in one call.

    Keyword names and values map as in :class:`SeuratSession`. Returns the function's value
    (a DataFrame for a data.frame) when it is not a Seurat object; when it is, the results go
    into ``adata`` (or, with ``copy=True``, into a copy) and the return value is
    ``{assay: that AnnData, **new assays}`` (e.g. ``{"RNA": adata, "SCT": sct}``).
    On an error ``adata`` is unchanged.
    """
    with SeuratSession(adata, assay=assay, counts=counts, copy=copy) as s:
        value = s.call(function, *args, **kwargs)
        changed = s._dirty
    return s.assays if changed else value


__all__ = ["RWarning", "SeuratSession", "call_r", "call_seurat"]
