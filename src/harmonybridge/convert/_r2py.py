"""Seurat -> AnnData: ``hb_from_seurat`` reads the parts in R, then one helper per slot builds the AnnData.

Each ``_read_<slot>`` helper (as anndataR's ``.from_Seurat_process_<slot>``) reads one part
back, guided by the :class:`~._record.Record` when the object was written by :func:`to_seurat`
(exact), by the name map otherwise, and logs what it moved or dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from harmonybridge import _rbridge

from . import _extras
from ._frames import py_frame
from ._homes import lift_reductions
from ._log import ConversionLog
from ._matrices import py_matrix
from ._names import obsm_key, restore_features, restore_scale_features
from ._record import Record
from ._uns import py_uns


@dataclass
class _Source:
    """What every slot helper shares: the parts read in R, the record, names and the log."""

    parts: Any
    assay: str
    rec: Record
    cells: np.ndarray
    seurat_features: np.ndarray
    features: pd.Index
    log: ConversionLog

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.cells), len(self.features)

    def part(self, name: str) -> Any:
        return _rbridge.get(self.parts, name)


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
    if not _rbridge.is_r_object(obj) or "Seurat" not in _rbridge.rclass(obj):
        cls = _rbridge.rclass(obj) if _rbridge.is_r_object(obj) else [type(obj).__name__]
        msg = f"from_seurat needs a Seurat object, not {cls[0]!r}; for an .rds file use read_rds(path)"
        raise TypeError(msg)
    parts = _rbridge.call("hb_from_seurat", obj, assay=assay, join=join_layers, what="reading the Seurat object")
    log = ConversionLog("Seurat -> AnnData")
    adata = _assemble(parts, log)
    _read_seurat_slots(obj, parts, adata, join_layers, log)
    log.warn_if_lossy()
    return (adata, log) if return_log else adata


def _assemble(parts: Any, log: ConversionLog) -> AnnData:
    assay = str(_rbridge.get(parts, "assay")[0])
    rec, uns_r = Record.from_misc(_rbridge.get(parts, "misc"), assay)
    joined = _rbridge.get(parts, "joined")
    for name in _rbridge.py_strings(joined)[0] if len(joined) else []:
        log.add("joined", "layers", name, reason="split v5 layers joined with JoinLayers on a copy")
    cells, _ = _rbridge.py_strings(_rbridge.get(parts, "cells"))
    seurat_features, _ = _rbridge.py_strings(_rbridge.get(parts, "features"))
    features = restore_features(seurat_features, rec.features)
    if rec.features and not features.equals(pd.Index(seurat_features)):
        log.add(
            "restored", "features", f"{int((features != seurat_features).sum())} feature names", "their AnnData names"
        )
    s = _Source(parts, assay, rec, cells, seurat_features, features, log)

    X, layers = _read_X(s)
    uns_extra = _read_scale_data(s, layers)
    _read_layers(s, layers)
    obs_index = pd.Index(cells, name=rec.obs_index.get("name"))
    obs, var = _read_obs_var(s, obs_index)
    adata = AnnData(X=X, obs=obs, var=var, layers=layers or None)
    uns_pca_variance = _read_reductions(s, adata)
    _read_graphs(s, adata)
    _read_uns(uns_r, uns_pca_variance, uns_extra, adata)
    _read_raw(s, adata, obs_index)
    return adata


def _read_X(s: _Source) -> tuple[Any, dict[str, Any]]:
    """data -> X (counts -> X when there is no data, logged), counts -> ``layers['counts']``."""
    data, counts = s.part("data"), s.part("counts")
    if _rbridge.is_null(data) and _rbridge.is_null(counts):
        msg = f"assay {s.assay!r} has neither a data nor a counts layer; nothing to put in X"
        raise ValueError(msg)
    if _rbridge.is_null(data):
        X = py_matrix(counts, s.rec.X if s.rec.x_counts is not None else s.rec.layers.get("counts"), s.shape)
        s.log.add("moved", "counts", "counts", "X", "the assay has no data layer")
    else:
        X = py_matrix(data, s.rec.X, s.shape)
    layers = {}
    if not _rbridge.is_null(counts) and not _rbridge.is_null(data):
        layers["counts"] = py_matrix(counts, s.rec.layers.get("counts"), s.shape)
    return X, layers


def _read_layers(s: _Source, layers: dict[str, Any]) -> None:
    """The other layers of a v5 assay -> layers."""
    other = s.part("layers")
    for i, name in enumerate(_rbridge.names(other)):
        layers[name] = py_matrix(other[i], s.rec.layers.get(name), s.shape)


def _read_scale_data(s: _Source, layers: dict[str, Any]) -> dict[str, Any]:
    """scale.data over all features -> ``layers['scale.data']``; over some -> ``uns['seurat']['scale.data']``."""
    uns_extra: dict[str, Any] = {}
    scale = s.part("scale_data")
    if _rbridge.is_null(scale):
        return uns_extra
    n_obs, n_vars = s.shape
    sd_rec = s.rec.scale_data or {}
    sd_where = sd_rec.get("where")
    if sd_where == "added":  # made by to_seurat for ProjectDim, not the AnnData's (unless R replaced it)
        rows = _rbridge.py_strings(_rbridge.attr(scale, "dimnames")[0])[0]
        mine = [s.seurat_features[i] for i in pd.Index(s.features.astype(str)).get_indexer(sd_rec.get("features", []))]
        if list(map(str, rows)) == list(map(str, mine)):
            return uns_extra
        sd_where = None
    sd_dim = _rbridge.to_numpy(_rbridge.attr(scale, "dim"))
    if sd_where == "layer" or (sd_where is None and int(sd_dim[0]) == n_vars):
        layers["scale.data"] = py_matrix(scale, s.rec.layers.get("scale.data") or {"format": "dense"}, s.shape)
        return uns_extra
    dimnames = _rbridge.attr(scale, "dimnames")
    sd_feats = restore_scale_features(_rbridge.py_strings(dimnames[0])[0], s.seurat_features, s.features)
    sd_data = py_matrix(scale, {"format": "dense", "dtype": sd_rec.get("dtype", "float64")}, (n_obs, len(sd_feats)))
    order = sd_rec.get("features")
    if order is not None and sorted(order) == sorted(sd_feats):  # Seurat keeps its feature order
        perm = pd.Index(sd_feats).get_indexer(order)
        sd_feats, sd_data = [sd_feats[i] for i in perm], sd_data[:, perm]
    uns_extra["scale.data"] = {"features": np.asarray(sd_feats, dtype=object), "data": sd_data}
    if sd_where is None:
        s.log.add(
            "moved",
            "scale.data",
            f"scale.data ({len(sd_feats)} features)",
            "uns['seurat']['scale.data']",
            "it does not cover all features; AnnData layers must",
        )
    return uns_extra


def _read_obs_var(s: _Source, obs_index: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame]:
    """meta.data -> obs, feature metadata -> var; VariableFeatures -> ``var['highly_variable']`` (no record)."""
    var_index = pd.Index(s.features, name=s.rec.var_index.get("name"))
    obs = py_frame(s.part("obs"), obs_index, s.rec.obs, "obs", s.log)
    var = py_frame(s.part("var"), var_index, s.rec.var, "var", s.log)
    if not s.rec.found:
        _extras.read_variable_features(s.parts, var, s.assay, s.log)
    return obs, var


def _read_loadings(s: _Source, loadings: Any) -> np.ndarray:
    """pca loadings -> ``varm['PCs']`` over all features (others 0, scanpy's convention)."""
    n_vars = s.shape[1]
    ldim = _rbridge.to_numpy(_rbridge.attr(loadings, "dim"))
    lmat = _rbridge.to_numpy(loadings).reshape(int(ldim[1]), int(ldim[0])).T
    lfeats = _rbridge.py_strings(_rbridge.attr(loadings, "dimnames")[0])[0]
    pos = pd.Index(s.seurat_features).get_indexer(lfeats)
    full = np.zeros((n_vars, lmat.shape[1]), dtype=np.dtype((s.rec.varm_PCs or {}).get("dtype", "float64")))
    ok = pos >= 0
    full[pos[ok]] = lmat[ok]
    if not s.rec.found and ok.sum() < n_vars:
        s.log.add(
            "moved",
            "pca loadings",
            f"{int(ok.sum())} features",
            "varm['PCs']",
            "other features filled with 0 (scanpy's convention)",
        )
    return full


def _read_reductions(s: _Source, adata: AnnData) -> np.ndarray | None:
    """Reductions -> obsm (pca loadings -> varm['PCs']); returns the pca variance (stdev squared) or None."""
    n_obs = s.shape[0]
    reds = s.part("reductions")
    uns_pca_variance = None
    for i, name in enumerate(_rbridge.names(reds)):
        r = reds[i]
        spec = s.rec.obsm.get(name, {})
        key = spec.get("key") or obsm_key(name)
        emb = _rbridge.get(r, "embeddings")
        edim = _rbridge.to_numpy(_rbridge.attr(emb, "dim"))
        if int(edim[0]) != n_obs:
            s.log.add("dropped", "reduction", name, reason=f"{int(edim[0])} cells, not {n_obs}")
            continue
        arr = (
            _rbridge.to_numpy(emb, np.dtype(spec.get("dtype", "float64"))).reshape(int(edim[1]), int(edim[0])).T.copy()
        )
        adata.obsm[key] = sp.csr_matrix(arr) if spec.get("sparse") else arr
        loadings = _rbridge.get(r, "loadings")
        if key == "X_pca" and not _rbridge.is_null(loadings):
            adata.varm["PCs"] = _read_loadings(s, loadings)
        elif not _rbridge.is_null(loadings) and len(loadings):
            s.log.add("dropped", "reduction loadings", name, reason="only pca loadings map to varm['PCs']")
        stdev = _rbridge.get(r, "stdev")
        if key == "X_pca" and len(stdev):
            uns_pca_variance = _rbridge.to_numpy(stdev) ** 2
    return uns_pca_variance


def _read_graphs(s: _Source, adata: AnnData) -> None:
    """Graphs of cells x cells -> obsp (``<assay>_<key>`` -> ``key``)."""
    n_obs = s.shape[0]
    graphs = s.part("graphs")
    for i, gname in enumerate(_rbridge.names(graphs)):
        spec = s.rec.obsp.get(gname, {})
        key = spec.get("key") or (gname[len(s.assay) + 1 :] if gname.startswith(f"{s.assay}_") else gname)
        g = graphs[i]
        gd = _rbridge.to_numpy(g.do_slot("Dim"))
        if int(gd[0]) != n_obs or int(gd[1]) != n_obs:
            s.log.add("dropped", "graph", gname, reason="not cells x cells")
            continue
        dtype = np.dtype(spec.get("dtype", "float64"))
        x, i_, p = (
            _rbridge.to_numpy(g.do_slot("x"), dtype),
            _rbridge.to_numpy(g.do_slot("i")),
            _rbridge.to_numpy(g.do_slot("p")),
        )
        m = sp.csc_matrix((x, i_, p), shape=(n_obs, n_obs))
        fmt = spec.get("format", "csr")
        adata.obsp[key] = m.toarray() if fmt == "dense" else (m if fmt == "csc" else sp.csr_matrix(m))
        if not spec and key != gname:
            s.log.add("moved", "graph", gname, f"obsp[{key!r}]")


def _read_uns(uns_r: Any, uns_pca_variance: np.ndarray | None, uns_extra: dict[str, Any], adata: AnnData) -> None:
    """The carried uns (or ``uns['pca']['variance']`` from the pca stdev) and Seurat's partial scale.data."""
    if uns_r is not None and not _rbridge.is_null(uns_r):
        adata.uns = py_uns(uns_r) or {}
    elif uns_pca_variance is not None:
        adata.uns["pca"] = {"variance": uns_pca_variance}
    if uns_extra:
        seurat_uns = dict(adata.uns.get("seurat") or {})
        seurat_uns.update(uns_extra)
        adata.uns["seurat"] = seurat_uns


def _read_raw(s: _Source, adata: AnnData, obs_index: pd.Index) -> None:
    """The ``<assay>_raw`` assay written by to_seurat -> raw; other assays are dropped (logged)."""
    raw_rec = s.rec.raw
    others = [a for a in _rbridge.py_strings(s.part("assays"))[0] if a != s.assay]
    if raw_rec and raw_rec.get("assay") in others:
        others.remove(raw_rec["assay"])
        raw_parts = s.part("raw")
        raw_feats_s, _ = _rbridge.py_strings(_rbridge.get(raw_parts, "features"))
        raw_feats = restore_features(raw_feats_s, raw_rec.get("features"))
        raw_index = pd.Index(raw_feats, name=(raw_rec.get("var_index") or {}).get("name"))
        raw_var = py_frame(_rbridge.get(raw_parts, "var"), raw_index, raw_rec.get("var"), "raw.var", s.log)
        raw_X = py_matrix(_rbridge.get(raw_parts, "data"), raw_rec.get("X"), (s.shape[0], len(raw_feats)))
        adata.raw = AnnData(X=raw_X, obs=pd.DataFrame(index=obs_index), var=raw_var)
    for a in others:
        s.log.add("dropped", "assay", a, reason=f"only assay {s.assay!r} is read; pass assay={a!r} to read it")


def _insert(df: pd.DataFrame, column: str, position: int | None) -> None:
    """Move ``column`` (just appended) to ``position`` (as recorded), in place."""
    if position is None or position >= len(df.columns) - 1:
        return
    values = df.pop(column)
    df.insert(int(position), column, values)


def _read_seurat_slots(obj: Any, parts: Any, adata: AnnData, join_layers: bool, log: ConversionLog) -> None:
    """Idents, VariableFeatures, variance ratio, R-only slots, other assays and counts in X (see ._extras)."""
    assay = str(_rbridge.get(parts, "assay")[0])
    rec, _ = Record.from_misc(_rbridge.get(parts, "misc"), assay)
    if rec.x_counts is not None:  # X held counts: Seurat's data copy and computed columns were not in it
        adata.layers.pop("counts", None)
        for col in rec.x_counts.get("calc_n") or []:
            if col in adata.obs.columns:
                del adata.obs[col]
        log.entries[:] = [e for e in log.entries if not (e.action == "moved" and e.where == "counts")]
    if rec.found and rec.var is not None:  # v5's VariableFeatures<- adds these to the feature metadata
        recorded = {r[1] for r in rec.var}
        for col in ("var.features", "var.features.rank"):
            if col in adata.var.columns and col not in recorded:
                del adata.var[col]
    if rec.found and rec.seurat is None:
        return
    if rec.found:
        seurat_rec = rec.seurat or {}
        positions = seurat_rec.get("positions") or {}
        for col in seurat_rec.get("obs") or []:
            _extras.read_idents(parts, adata, ConversionLog("-"), column=col)
            _insert(adata.obs, col, positions.get(f"obs:{col}"))
        if seurat_rec.get("var"):
            _extras.read_variable_features(parts, adata.var, assay, ConversionLog("-"))
            for col in seurat_rec["var"]:
                _insert(adata.var, col, positions.get(f"var:{col}"))
        carried, others = bool(seurat_rec.get("carried")), list(seurat_rec.get("assays") or [])
        derived = {"obs": list(seurat_rec.get("obs") or []), "var": list(seurat_rec.get("var") or [])}
    else:
        ident = _extras.read_idents(parts, adata, log)
        hvg = [c for c in (_extras.HVG, _extras.HVG_RANK) if c in adata.var.columns]
        _extras.read_variance_ratio(parts, adata)
        raw_assay = (rec.raw or {}).get("assay")
        carried = True
        others = [a for a in _rbridge.py_strings(_rbridge.get(parts, "assays"))[0] if a not in (assay, raw_assay)]
        derived = {"obs": [ident], "var": hvg}
    seurat_uns = dict(adata.uns.get(_extras.SEURAT_UNS) or {})
    seurat_uns[_extras.DERIVED] = {k: np.asarray(v, dtype=object) for k, v in derived.items()}
    if not rec.found or (rec.seurat or {}).get("assay"):
        seurat_uns[_extras.ASSAY] = assay
    if not rec.found or (rec.seurat or {}).get("versions"):
        versions = {assay: str(_rbridge.get(parts, "version")[0])}
        versions |= {a: f["version"] for a, f in (seurat_uns.get(_extras.ASSAYS) or {}).items() if "version" in f}
        seurat_uns[_extras.VERSIONS] = versions
    if carried:
        seurat_uns[_extras.CARRY] = _extras.read_carry(obj, log if not rec.found else ConversionLog("-"))
    if others:
        seurat_uns[_extras.ASSAYS] = _extras.read_other_assays(
            obj, others, join_layers, log if not rec.found else ConversionLog("-"), _assemble
        )
        log.entries[:] = [
            e for e in log.entries if not (e.action == "dropped" and e.where == "assay" and e.old in others)
        ]
        lift_reductions(adata, seurat_uns, log)  # reductions are the object's, whatever their assay
    adata.uns[_extras.SEURAT_UNS] = seurat_uns
