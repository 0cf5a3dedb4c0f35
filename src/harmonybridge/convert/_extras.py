"""What a Seurat object holds beyond the name map, both ways.

- Identities: ``Idents(obj)`` <-> ``obs['ident']`` (a categorical, levels in order).
- Variable features: ``VariableFeatures`` <-> ``var['highly_variable']`` (and
  ``var['highly_variable_rank']``, their order), as scanpy's HVG columns are.
- The PCA's ``uns['pca']['variance_ratio']`` from RunPCA's ``total.variance``, for scanpy's plots.
- R-only slots (``@commands``, ``@tools``, ``Misc``, each reduction's misc, global flag,
  jackstraw, projected loadings, the features its loadings cover, embedding attributes): carried
  as serialized R objects in ``uns['seurat']['r']`` (``hb_seurat_carry``/``hb_seurat_restore``).
- The other assays: each as an AnnData's fields in ``uns['seurat']['assays'][name]`` (X, layers,
  var, obsm, varm, obsp, uns), with the reductions and graphs that belong to it;
  :func:`assays` gives them as AnnData objects.
- Counts in X: integer-valued, non-negative X with no ``layers['counts']`` becomes ``counts``,
  with ``data`` as CreateSeuratObject sets it and nCount_/nFeature_ computed (``x_layer``).

Columns made here from Seurat slots are listed in ``uns['seurat']['derived']``, so that
:func:`~._py2r.to_seurat` puts them back into their slots instead of ``meta.data``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from harmonybridge import _rbridge
from harmonybridge._core.counts import is_counts

from ._homes import REDUCTION_ASSAYS, assay_obsm
from ._log import ConversionLog
from ._matrices import r_cell_totals
from ._rserial import safe_carry
from ._scale import partial_scale_data

SEURAT_UNS = "seurat"
CARRY = "r"
ASSAYS = "assays"
DERIVED = "derived"
ASSAY = "assay"
VERSIONS = "versions"
IDENT = "ident"
HVG, HVG_RANK = "highly_variable", "highly_variable_rank"
_FIELDS = ("X", "layers", "var", "obsm", "varm", "obsp", "uns")


# ---- Seurat -> AnnData ----------------------------------------------------------------------


def _free(name: str, taken: Any) -> str:
    out, i = name, 1
    while out in taken:
        out, i = f"{name}_{i}", i + 1
    return out


def _idents(parts: Any, cells: pd.Index) -> pd.Categorical:
    from ._frames import py_column

    return py_column(_rbridge.get(parts, "idents"), None)


def read_idents(parts: Any, adata: AnnData, log: ConversionLog, column: str | None = None) -> str:
    """``Idents(obj)`` -> ``obs[column]`` (default ``'ident'``, or a free variant of it); returns the column."""
    column = column or _free(IDENT, adata.obs.columns)
    adata.obs[column] = pd.Categorical(_idents(parts, adata.obs_names))
    levels = list(adata.obs[column].cat.categories)
    log.add("moved", "Idents", f"{len(levels)} identities", f"obs[{column!r}]", "back to Idents by to_seurat")
    return column


def read_variable_features(parts: Any, var: pd.DataFrame, assay: str, log: ConversionLog) -> list[str]:
    """``VariableFeatures`` -> ``var['highly_variable']`` and ``var['highly_variable_rank']`` (0 first, else NaN)."""
    from ._names import restore_features

    vf = _rbridge.get(parts, "variable_features")
    if _rbridge.is_null(vf) or not len(vf):
        return []
    names = restore_features(_rbridge.py_strings(vf)[0], None)
    pos = pd.Index(var.index.astype(str)).get_indexer(names)
    added = []
    if HVG not in var.columns:
        var[HVG] = np.zeros(len(var), dtype=bool)
        var.iloc[pos[pos >= 0], var.columns.get_loc(HVG)] = True
        added.append(HVG)
    if HVG_RANK not in var.columns:
        rank = np.full(len(var), np.nan)
        rank[pos[pos >= 0]] = np.flatnonzero(pos >= 0).astype(float)
        var[HVG_RANK] = rank
        added.append(HVG_RANK)
    if added:
        log.add("moved", f"VariableFeatures({assay})", f"{len(names)} features", f"var[{added}]")
    return added


def read_variance_ratio(parts: Any, adata: AnnData) -> None:
    """``uns['pca']['variance_ratio']``: each PC's variance over RunPCA's ``total.variance``."""
    pca = adata.uns.get("pca")
    if not isinstance(pca, dict) or "variance" not in pca or "variance_ratio" in pca:
        return
    reds = _rbridge.get(parts, "reductions")
    r = _rbridge.get(reds, "pca")
    total = None if _rbridge.is_null(r) else _rbridge.get(r, "total_variance")
    if total is None or _rbridge.is_null(total) or not len(total):
        return
    pca["variance_ratio"] = np.asarray(pca["variance"], dtype=np.float64) / float(total[0])


def read_carry(obj: Any, log: ConversionLog) -> dict[str, np.ndarray]:
    """The R-only slots as serialized R objects (uint8 arrays), for ``uns['seurat']['r']``."""
    carry = _rbridge.call("hb_seurat_carry", obj, what="reading the Seurat object's R-only slots")
    out = {}
    for name in _rbridge.names(carry):
        raw = _rbridge.get(carry, name)
        out[name] = np.frombuffer(_rbridge.py_bytes(raw), dtype=np.uint8).copy()
    for where in ("@commands", "@tools", "Misc", "reduction misc"):
        log.add("moved", where, "R objects", "uns['seurat']['r']", "serialized; restored by to_seurat")
    return out


def assay_fields(sub: AnnData) -> dict[str, Any]:
    """An assay's AnnData as the fields stored in ``uns['seurat']['assays'][name]`` (uns copied)."""
    out: dict[str, Any] = {"X": sub.X, "var": sub.var}
    for name in ("layers", "obsm", "varm", "obsp"):
        out[name] = {k: v for k, v in getattr(sub, name).items() if k is not None}
    out["uns"] = dict(sub.uns)
    return out


def _read_loadings_stdev(parts: Any, sub: AnnData, fields: dict[str, Any]) -> dict[str, np.ndarray]:
    """Each reduction's loadings (over all features, others 0) into ``varm[name]``; returns the stdevs."""
    reds = _rbridge.get(parts, "reductions")
    features = pd.Index(sub.var_names.astype(str))
    stdevs = {}
    for i, red in enumerate(_rbridge.names(reds)):
        r = reds[i]
        stdevs[red] = _rbridge.to_numpy(_rbridge.get(r, "stdev"), np.float64)
        loadings = _rbridge.get(r, "loadings")
        if _rbridge.is_null(loadings) or not len(loadings):
            continue
        values = _rbridge.matrix_to_numpy(loadings, np.float64).T  # features x dims
        rows = _rbridge.str_list(_rbridge.attr(loadings, "dimnames")[0])
        full = np.zeros((len(features), values.shape[1]))
        pos = features.get_indexer(rows)
        full[pos[pos >= 0]] = values[pos >= 0]
        fields["varm"][red] = full
    return stdevs


def read_other_assays(
    obj: Any,
    others: list[str],
    join_layers: bool,
    log: ConversionLog,
    assemble: Callable[[Any, ConversionLog], AnnData],
) -> dict[str, Any]:
    """Each other assay as an AnnData's fields (``assemble``: parts -> AnnData), with its reductions and graphs."""
    out = {}
    for name in others:
        parts = _rbridge.call(
            "hb_from_seurat", obj, assay=name, join=join_layers, globals=False, what=f"reading assay {name!r}"
        )
        sub_log = ConversionLog(f"assay {name}")
        sub = assemble(parts, sub_log)
        fields = assay_fields(sub)
        stdevs = _read_loadings_stdev(parts, sub, fields)
        for e in sub_log.entries:
            if e.action == "dropped" and (e.where == "assay" or (e.where == "reduction loadings" and e.old in stdevs)):
                continue
            log.add(e.action, f"{name}: {e.where}", e.old, e.new, e.reason)
        fields["stdev"] = stdevs
        fields["x_is_counts"] = bool(_rbridge.is_null(_rbridge.get(parts, "data")))  # a counts-only assay (v5)
        fields["version"] = str(_rbridge.get(parts, "version")[0])
        out[name] = fields
        log.add("moved", f"Assays({name})", f"assay {name!r}", f"uns['seurat']['assays'][{name!r}]")
    return out


def assays(adata: AnnData) -> dict[str, AnnData]:
    """The other assays of a converted Seurat object, as AnnData objects sharing ``adata.obs``."""
    stored = (adata.uns.get(SEURAT_UNS) or {}).get(ASSAYS) or {}

    return {
        name: AnnData(
            X=f.get("X"),
            obs=adata.obs,
            var=f.get("var"),
            layers=f.get("layers") or None,
            obsm=assay_obsm(adata, name, f.get("obsm")),  # with its reductions kept in adata.obsm
            varm=f.get("varm") or None,
            obsp=f.get("obsp") or None,
            uns=f.get("uns") or None,
        )
        for name, f in stored.items()
    }


# ---- AnnData -> Seurat ----------------------------------------------------------------------


@dataclass
class Plan:
    """What :func:`plan` takes out of the AnnData for Seurat's own slots."""

    uns: dict[str, Any]
    obs_drop: list[str] = field(default_factory=list)
    var_drop: list[str] = field(default_factory=list)
    idents: str | None = None
    variable_features: list[str] | None = None
    carry: dict[str, bytes] | None = None
    assays: dict[str, Any] = field(default_factory=dict)
    x_counts: bool = False
    calc_n: bool = False
    had_assay: bool = False
    versions: dict[str, str] = field(default_factory=dict)
    homes: dict[str, str] = field(default_factory=dict)  # obsm key -> the assay its reduction was computed on


def plan(
    adata: AnnData,
    uns: dict[str, Any],
    assay: str,
    layers_in: dict[str, Any],
    *,
    idents: str | None,
    x_layer: str,
    log: ConversionLog,
) -> Plan:
    """Decide what goes to Seurat's slots; ``uns`` is the uns left to carry (not modified)."""
    uns = dict(uns)
    seurat = dict(uns.get(SEURAT_UNS) or {}) if isinstance(uns.get(SEURAT_UNS), dict) else {}
    had_assay = seurat.pop(ASSAY, None) is not None
    versions = seurat.pop(VERSIONS, None) or {}
    derived = seurat.pop(DERIVED, None) or {}
    carry = seurat.pop(CARRY, None)
    others = seurat.pop(ASSAYS, None) or {}
    homes = seurat.pop(REDUCTION_ASSAYS, None) or {}
    if SEURAT_UNS in uns:
        if seurat:
            uns[SEURAT_UNS] = seurat
        else:
            del uns[SEURAT_UNS]
    p = Plan(uns=uns, had_assay=had_assay, versions={str(k): str(v) for k, v in dict(versions).items()})
    p.homes = {str(k): str(v) for k, v in dict(homes).items()}
    derived_obs = [c for c in np.atleast_1d(derived.get("obs", [])) if c in adata.obs.columns]
    derived_var = [c for c in np.atleast_1d(derived.get("var", [])) if c in adata.var.columns]
    p.obs_drop, p.var_drop = [str(c) for c in derived_obs], [str(c) for c in derived_var]
    if idents is not None:
        if idents not in adata.obs.columns:
            msg = f"idents={idents!r} is not an obs column; available: {list(map(str, adata.obs.columns))}"
            raise KeyError(msg)
        p.idents = idents
    elif derived_obs:
        p.idents = str(derived_obs[0])
    if HVG in adata.var.columns:
        hv = adata.var[HVG].to_numpy(dtype=bool, na_value=False)
        order = np.flatnonzero(hv)
        if HVG_RANK in adata.var.columns:
            rank = adata.var[HVG_RANK].to_numpy(dtype=float, na_value=np.nan)[order]
            order = order[np.argsort(np.where(np.isnan(rank), np.inf, rank), kind="stable")]
        p.variable_features = [int(i) for i in order]  # positions; names are Seurat's, set by the caller
    if carry:
        p.carry = safe_carry(carry, log)  # nothing that can run code crosses to R
    p.assays = others
    if x_layer not in ("auto", "data", "counts"):
        msg = f"x_layer must be 'auto', 'data' or 'counts', not {x_layer!r}"
        raise ValueError(msg)
    if "counts" not in layers_in and (x_layer == "counts" or (x_layer == "auto" and is_counts(adata.X))):
        if x_layer == "counts" and not is_counts(adata.X):
            msg = "x_layer='counts' but adata.X is not integer-valued and non-negative; pass x_layer='data'"
            raise ValueError(msg)
        p.x_counts = True
        n_cols = [f"nCount_{assay}", f"nFeature_{assay}"]
        p.calc_n = not any(c in adata.obs.columns for c in n_cols)
        computed = f"; {' and '.join(n_cols)} computed" if p.calc_n else ""
        log.add(
            "moved",
            "X",
            "integer counts in X",
            f"counts(layer), with data as CreateSeuratObject sets it{computed}",
            "X looks like counts (integer-valued, non-negative); x_layer='data' keeps it as data",
        )
    return p


def r_other_assays(
    plan_: Plan, cells_r: Any, log: ConversionLog
) -> tuple[dict[str, Any], list[Any], dict[str, Any], dict[str, str]]:
    """The other assays as hb_to_seurat's ``extra_assays``, with their reductions and graphs."""
    from ._matrices import r_matrix
    from ._names import feature_map

    extra: dict[str, Any] = {}
    reductions: list[Any] = []
    graphs: dict[str, Any] = {}
    graph_assays: dict[str, str] = {}
    for name, f in plan_.assays.items():
        var = f.get("var")
        var = var if isinstance(var, pd.DataFrame) else pd.DataFrame(index=pd.Index([], dtype=str))
        features, _ = feature_map(var.index, f"assay {name}")
        feats_r = _rbridge.r_strings(features)
        X = f.get("X")
        layers = f.get("layers") or {}
        counts = layers.get("counts")
        item: dict[str, Any] = {}
        if X is not None and f.get("x_is_counts") and counts is None:  # counts only, as it was
            item["counts"] = r_matrix(X, feats_r, cells_r, f"assay {name} X")
        elif X is not None:
            item["data"] = r_matrix(X, feats_r, cells_r, f"assay {name} X")
        if counts is not None:
            item["counts"] = r_matrix(counts, feats_r, cells_r, f"assay {name} counts")
        if "scale.data" in layers:
            sd = layers["scale.data"]
            item["scale_data"] = r_matrix(sd if not sp.issparse(sd) else sd.toarray(), feats_r, cells_r, "scale.data")
        elif (partial := partial_scale_data(f, var, features, cells_r, name)) is not None:
            item["scale_data"] = partial
        if HVG in var.columns:
            hv = var[HVG].to_numpy(dtype=bool, na_value=False)
            order = np.flatnonzero(hv)
            if HVG_RANK in var.columns:
                rank = var[HVG_RANK].to_numpy(dtype=float, na_value=np.nan)[order]
                order = order[np.argsort(np.where(np.isnan(rank), np.inf, rank), kind="stable")]
            item["variable_features"] = _rbridge.r_strings([features[i] for i in order])
        keep = [c for c in var.columns if c not in (HVG, HVG_RANK)]
        if keep:
            from ._frames import r_frame

            v = var[keep].copy(deep=False)
            v.index = features
            item["var"], _ = r_frame(v, f"assay {name} var", [str(c) for c in keep], log)
        version = f.get("version") or plan_.versions.get(name)
        if version:
            item["version"] = _rbridge.r_strings([str(version)])
        extra[name] = _rbridge.r_list(item)
        for key, emb in (f.get("obsm") or {}).items():
            red = key[2:] if str(key).startswith("X_") else str(key)
            emb = np.asarray(emb.toarray() if sp.issparse(emb) else emb)
            rkey = f"{red}_"
            columns = _rbridge.r_strings([f"{rkey}{i + 1}" for i in range(emb.shape[1])])
            r_item = {
                "name": _rbridge.r_strings([red]),
                "key": _rbridge.r_strings([rkey]),
                "assay": _rbridge.r_strings([name]),
                "embeddings": _rbridge.call(
                    "hb_dense",
                    _rbridge.r_double_columns(emb),
                    emb.shape[0],
                    emb.shape[1],
                    cells_r,
                    columns,
                    what="embedding",
                ),
            }
            varm = f.get("varm") or {}
            loadings = varm.get(red, varm.get("PCs") if red == "pca" else None)
            if loadings is not None and np.shape(loadings)[1] == emb.shape[1]:
                lv = np.asarray(loadings)
                r_item["loadings"] = _rbridge.call(
                    "hb_dense",
                    _rbridge.r_double_columns(lv),
                    lv.shape[0],
                    lv.shape[1],
                    feats_r,
                    columns,
                    what="loadings",
                )
            stdev = (f.get("stdev") or {}).get(red)
            if stdev is not None and len(stdev):
                r_item["stdev"] = _rbridge.r_double(np.asarray(stdev, dtype=np.float64))
            reductions.append(_rbridge.r_list(r_item))
        for key, g in (f.get("obsp") or {}).items():
            gname = f"{name}_{key}"
            gcsc = sp.csc_matrix(g)
            graphs[gname] = r_matrix(
                sp.csr_matrix((gcsc.data, gcsc.indices, gcsc.indptr), shape=g.shape[::-1]), cells_r, cells_r, gname
            )
            graph_assays[gname] = name
    return extra, reductions, graphs, graph_assays


def r_slot_args(xp: Plan, adata: AnnData, features: list[str], rec: Any, log: ConversionLog) -> dict[str, Any]:
    """hb_to_seurat's arguments for Seurat's own slots; records in ``rec`` what from_seurat needs to undo them."""
    from ._frames import r_column

    if xp.x_counts:
        rec.x_counts = {"calc_n": [f"nCount_{rec.assay}", f"nFeature_{rec.assay}"] if xp.calc_n else []}
    if xp.obs_drop or xp.var_drop or xp.carry or xp.assays or xp.had_assay or xp.versions:
        positions = {f"obs:{c}": int(adata.obs.columns.get_loc(c)) for c in xp.obs_drop}
        positions |= {f"var:{c}": int(adata.var.columns.get_loc(c)) for c in xp.var_drop}
        rec.seurat = {
            "obs": xp.obs_drop,
            "var": xp.var_drop,
            "positions": positions,
            "carried": xp.carry is not None,
            "assays": list(xp.assays),
            "assay": xp.had_assay,
            "versions": bool(xp.versions),
        }
    idents = None
    if xp.idents is not None:
        col = adata.obs[xp.idents]
        idents = r_column(col if isinstance(col.dtype, pd.CategoricalDtype) else col.astype("category"), "idents", log)
    return {
        "variable_features": None
        if xp.variable_features is None
        else _rbridge.r_strings([features[i] for i in xp.variable_features]),
        "idents": idents,
        # nCount_/nFeature_ as CalcN computes them, from X here (R's counts > 0 is a copy of the matrix)
        "calc_n": _rbridge.r_list(dict(zip(("nCount", "nFeature"), r_cell_totals(adata.X), strict=True)))
        if xp.calc_n
        else False,
        "carry": None if xp.carry is None else _rbridge.r_list({k: _rbridge.r_raw(v) for k, v in xp.carry.items()}),
    }
