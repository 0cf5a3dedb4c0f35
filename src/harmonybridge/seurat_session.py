"""Seurat workflows on an AnnData: a session that converts once and calls R functions by name.

::

    with hb.SeuratSession(adata) as s:          # adata's counts (layers["counts"], or integer X) and X
        s.NormalizeData()
        s.FindVariableFeatures(nfeatures=2000)
        s.ScaleData()
        s.RunPCA(npcs=30)
        markers = s.FindAllMarkers(only_pos=True)     # a pandas DataFrame
    adata.obsm["X_pca"], adata.var["highly_variable"]   # written back when the block ends

    hb.call_seurat(adata, "SCTransform")        # the one-call form

What comes back (:meth:`SeuratSession.to_anndata`, also run when the ``with`` block ends
without an error) is what the calls added or changed, following the name map of
:func:`~harmonybridge.to_seurat`: the assay's ``data`` -> ``X`` (when X held the counts they
move to ``layers["counts"]`` first), new layers -> ``layers`` (a ``scale.data`` of some
features only -> ``uns["seurat"]["scale.data"]``), new or changed ``meta.data`` columns ->
``obs``, feature metadata -> ``var``, ``VariableFeatures`` -> ``var["highly_variable"]``,
reductions -> ``obsm`` (``pca`` -> ``X_pca``, ``umap`` -> ``X_umap``, ``harmony`` ->
``X_pca_harmony``, other -> ``X_<name>``), their loadings -> ``varm`` (``pca`` -> ``PCs``,
other -> ``<name>_loadings``), ``pca``'s stdev -> ``uns["pca"]["variance"]`` and each
reduction's key, assay and stdev -> ``uns["seurat"]["reductions"]``, graphs -> ``obsp``
(``RNA_snn`` -> ``snn``; another assay's keep their name, ``SCT_snn``), changed ``Idents`` ->
``obs["ident"]`` unless equal to a returned column. A new assay with its own features
(SCTransform's ``SCT``, an ADT assay) becomes an AnnData of its own in ``s.assays[name]``
(AnnData has no slot for a second feature space; ``s.assays`` also holds the main assay's
result under its name). Whatever is not brought back gets a line in ``s.log``.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from . import _rbridge_session as rs
from ._compat import ConversionWarning, warn
from ._convert import ConversionLog, from_seurat, to_seurat

logger = logging.getLogger("harmonybridge")

#: reduction name -> obsm key (the name map of to_seurat / from_seurat)
OBSM_KEYS = {"pca": "X_pca", "umap": "X_umap", "tsne": "X_tsne", "harmony": "X_pca_harmony"}


class RWarning(UserWarning):
    """A warning R raised during a session call (the message names the function)."""


def _seurat_name(name: str) -> str:
    return name.replace("_", "-").replace("|", "-")


def _is_counts(m: Any) -> bool:
    """Whether a matrix holds non-negative integers (looked at on a sample of its values)."""
    values = m.data if sp.issparse(m) else np.asarray(m).ravel()
    values = values[:1_000_000]
    return bool(values.size) and bool(np.all(values >= 0)) and bool(np.all(np.mod(values, 1) == 0))


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
        self._functions: dict[str, rs.RFunction] = {}
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
            elif adata.X is not None and _is_counts(adata.X):
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

    def function(self, name: str) -> rs.RFunction:
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
        value, shown = _invoke(fn, [self._obj, *args], named)
        self.calls.append(f"{fn.qualified}({shown})"[:300])
        if rs.is_seurat(value):
            self._obj = value
            self._dirty = True
            return None
        return rs.r2py(value)

    def _check_assays(self, fn: rs.RFunction, named: dict[str, Any]) -> None:
        present = rs.assays(self._obj)
        for key in ("assay", "assays"):
            value = named.get(key)
            wanted = [value] if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else []
            missing = [a for a in wanted if isinstance(a, str) and a not in present]
            if missing:
                msg = f"{fn.qualified}: assay {missing[0]!r} is not in the session's Seurat object; assays: {present}"
                raise KeyError(msg)

    # ---- results ---------------------------------------------------------------------------

    def to_anndata(self) -> AnnData:
        """Write what the calls added or changed into the AnnData (``s.adata``) and return it.

        New assays go to ``s.assays`` (see the module docstring). Everything is read from R
        first and written only when all of it was read, so an error leaves the AnnData as it was.
        """
        log = ConversionLog("Seurat session -> AnnData")
        updates = self._collect(log)
        target = self.adata
        self._apply(target, updates)
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

    def _collect(self, log: ConversionLog) -> dict[str, Any]:
        d = rs.diff(self._start, self._obj, self.assay)
        up: dict[str, Any] = {k: {} for k in ("obs", "layers", "var", "obsm", "varm", "obsp", "uns_seurat", "assays")}
        up["X"] = up["highly_variable"] = up["pca_variance"] = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConversionWarning)
            main = from_seurat(self._obj, assay=self.assay)
        names = self._adata.obs_names
        if not main.obs_names.equals(names):
            msg = (
                "the session's Seurat object no longer has the AnnData's cells (a call subset or reordered them); "
                "use s.obj directly"
            )
            raise ValueError(msg)
        feature_of = pd.Index([_seurat_name(v) for v in self._adata.var_names.astype(str)])
        for col in d["meta"]:
            if col in main.obs:
                up["obs"][col] = main.obs[col]
                log.add("moved", "meta.data", col, f"obs[{col!r}]")
            else:
                log.add("dropped", "meta.data", col, reason="from_seurat could not read it")
        for col in d["meta_removed"]:
            log.add("kept", "obs", col, reason="removed from meta.data by a call; the AnnData keeps it")
        for layer in d["layers"]:
            if layer == "data":
                up["X"] = main.X
                log.add("moved", self.assay, "data", "X")
            elif layer in main.layers:
                up["layers"][layer] = main.layers[layer]
                log.add("moved", self.assay, layer, f"layers[{layer!r}]")
            elif layer == "scale.data" and "scale.data" in (main.uns.get("seurat") or {}):
                up["uns_seurat"]["scale.data"] = main.uns["seurat"]["scale.data"]
                log.add(
                    "moved", self.assay, "scale.data", "uns['seurat']['scale.data']", "it covers some features only"
                )
            else:
                log.add("dropped", self.assay, f"layer {layer}", reason="not readable as cells x features")
        for col in d["var"]:
            up["var"][col] = main.var[col]
            log.add("moved", f"{self.assay} feature metadata", col, f"var[{col!r}]")
        if d["var_features"]:
            vf = rs.variable_features(self._obj, self.assay)
            up["highly_variable"] = feature_of.isin(vf)
            log.add("moved", "VariableFeatures", f"{len(vf)} features", "var['highly_variable']")
        reductions: dict[str, Any] = {}
        for name in d["reductions"]:
            red = rs.reduction(self._obj, name)
            pos = names.get_indexer(red["cells"])
            if (pos < 0).any() or len(pos) != len(names):
                log.add(
                    "dropped", "reduction", name, reason=f"{len(red['cells'])} cells, not the AnnData's {len(names)}"
                )
                continue
            order = np.argsort(pos)
            key = OBSM_KEYS.get(name, f"X_{name}")
            up["obsm"][key] = red["embeddings"][order]
            log.add("moved", "reduction", name, f"obsm[{key!r}]")
            if red["loadings"] is not None:
                fpos = feature_of.get_indexer(red["features"])
                full = np.zeros((len(feature_of), red["loadings"].shape[1]))
                full[fpos[fpos >= 0]] = red["loadings"][fpos >= 0]
                vkey = "PCs" if name == "pca" else f"{name}_loadings"
                up["varm"][vkey] = full
                log.add("moved", "loadings", name, f"varm[{vkey!r}]", f"{int((fpos >= 0).sum())} features, others 0")
                if (fpos < 0).any():
                    log.add(
                        "dropped",
                        "loadings",
                        f"{name}: {int((fpos < 0).sum())} features",
                        reason=f"not features of assay {self.assay!r}",
                    )
            stdev = red["stdev"]
            if name == "pca" and stdev is not None:
                up["pca_variance"] = stdev**2
            reductions[name] = {
                "key": red["key"],
                "assay": red["assay"],
                "obsm": key,
                "stdev": stdev if stdev is not None else np.zeros(0),
            }
        if reductions:
            up["uns_seurat"]["reductions"] = reductions
        for gname in d["graphs"]:
            g, cells = rs.graph(self._obj, gname)
            pos = names.get_indexer(cells)
            if (pos < 0).any() or len(pos) != len(names):
                log.add("dropped", "graph", gname, reason="not a graph of the AnnData's cells")
                continue
            inv = np.argsort(pos)
            key = gname[len(self.assay) + 1 :] if gname.startswith(f"{self.assay}_") else gname
            up["obsp"][key] = g[inv][:, inv].tocsr()
            log.add("moved", "graph", gname, f"obsp[{key!r}]")
        for n in d["neighbors"]:
            log.add("dropped", "Neighbor", n, reason="Neighbor objects are not converted (their graphs are)")
        for n in d["misc"]:
            log.add("dropped", "Misc", n, reason="not converted; read it from s.obj")
        for n in d["tools"]:
            log.add("dropped", "Tool", n, reason="not converted; read it from s.obj")
        if d["idents"]:
            ident, same = rs.idents(self._obj)
            if same:
                log.add("kept", "Idents", "Idents", reason=f"the same as meta.data {same[0]!r}")
            else:
                up["obs"]["ident"] = pd.Series(ident, index=names)
                log.add("moved", "Idents", "Idents", "obs['ident']")
        for a in d["new_assays"]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConversionWarning)
                sub = from_seurat(self._obj, assay=a)
            up["assays"][a] = sub
            log.add("moved", "assay", a, f"s.assays[{a!r}]", f"an AnnData of {sub.n_obs} cells x {sub.n_vars} features")
        for a in d["other_changed"]:
            log.add(
                "dropped",
                "assay",
                a,
                reason="an assay the AnnData came with was changed; read it with hb.from_seurat(s.obj, assay=...)",
            )
        for a in d["removed_assays"]:
            log.add("kept", "assay", a, reason="removed by a call; the AnnData keeps it")
        if d["default_assay"] != self.assay:
            log.add(
                "kept",
                "DefaultAssay",
                d["default_assay"],
                reason=f"the calls made it the default; the AnnData is assay {self.assay!r}",
            )
        up["uns_seurat"]["calls"] = list(self.calls)
        return up

    def _apply(self, target: AnnData, up: dict[str, Any]) -> None:
        if up["X"] is not None:
            if self._counts == "X" and "counts" not in target.layers:
                target.layers["counts"] = target.X
                self.log.add("moved", "X", "counts", "layers['counts']", "X now holds Seurat's data")
            target.X = up["X"]
        for k, v in up["layers"].items():
            target.layers[k] = v
        for k, v in up["obs"].items():
            target.obs[k] = v.to_numpy() if not isinstance(v.dtype, pd.CategoricalDtype) else v.values
        for k, v in up["var"].items():
            target.var[k] = v.to_numpy() if not isinstance(v.dtype, pd.CategoricalDtype) else v.values
        if up["highly_variable"] is not None:
            target.var["highly_variable"] = up["highly_variable"]
        for k, v in up["obsm"].items():
            target.obsm[k] = v
        for k, v in up["varm"].items():
            target.varm[k] = v
        for k, v in up["obsp"].items():
            target.obsp[k] = v
        if up["pca_variance"] is not None:
            pca = dict(target.uns.get("pca") or {})
            pca["variance"] = up["pca_variance"]
            target.uns["pca"] = pca
        if up["uns_seurat"]:
            seurat = dict(target.uns.get("seurat") or {})
            seurat.update(up["uns_seurat"])
            target.uns["seurat"] = seurat


def _r_kwargs(fn: rs.RFunction, kwargs: dict[str, Any], r_args: dict[str, Any] | None) -> dict[str, Any]:
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


def _invoke(fn: rs.RFunction, args: list[Any], named: dict[str, Any]) -> tuple[Any, str]:
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


__all__ = ["OBSM_KEYS", "RWarning", "SeuratSession", "call_r", "call_seurat"]
