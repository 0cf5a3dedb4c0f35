"""AnnData -> Seurat: checks first, then one helper per slot, then ``hb_to_seurat`` builds the object in R.

Each ``_process_<slot>`` helper (as anndataR's ``.as_Seurat_*``) turns one part of the AnnData
into R values, writes what it needs into the :class:`~._record.Record` and logs what it renamed
or dropped. The slots run in a fixed order, so the log reads in that order too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from harmonybridge import _rbridge

from . import _extras, _mudata
from ._frames import r_frame
from ._homes import homed_reductions
from ._log import ConversionLog
from ._matrices import check_nnz, matrix_spec, r_bytes, r_matrix, shared_structure
from ._names import SLOT_OF, check_names, feature_map, log_features, make_name, reduction_plan, unique_names
from ._record import Record
from ._scale import process_projection_scale
from ._uns import r_uns


@dataclass
class _Target:
    """What every slot helper shares: the Seurat-side names, the record and the log."""

    assay: str
    version: str
    features: list[str]
    cells_r: Any
    features_r: Any
    rec: Record
    log: ConversionLog


def _check_arguments(adata: AnnData, assay: str, assay_version: str | None, raw: str) -> None:
    if not isinstance(adata, AnnData):
        msg = f"to_seurat needs an AnnData, not {type(adata).__name__}"
        raise TypeError(msg)
    if raw not in ("assay", "drop"):
        msg = f"raw must be 'assay' or 'drop', not {raw!r}"
        raise ValueError(msg)
    if assay_version not in (None, "v4", "v5"):
        msg = f"assay_version must be 'v4', 'v5' or None, not {assay_version!r}"
        raise ValueError(msg)
    if not assay or make_name(assay) != assay:
        msg = f"assay name {assay!r} is not a valid Seurat name; use letters, digits, '.' and '_' (e.g. 'RNA')"
        raise ValueError(msg)
    if adata.n_obs == 0 or adata.n_vars == 0:
        msg = f"cannot convert an AnnData with {adata.n_obs} cells x {adata.n_vars} genes: Seurat needs both"
        raise ValueError(msg)


def _check_sizes(adata: AnnData, layers_in: dict[str, Any], raw: str) -> None:
    check_nnz(adata.X, "adata.X")
    for k, v in layers_in.items():
        check_nnz(v, f"adata.layers[{k!r}]")
    if adata.raw is not None and raw == "assay":
        check_nnz(adata.raw.X, "adata.raw.X")
    if adata.X is None:
        msg = "adata.X is None; Seurat's data layer needs a matrix: set adata.X (e.g. adata.X = adata.layers['counts'])"
        raise ValueError(msg)


def _assay_version(adata: AnnData, assay_version: str | None, raw: str) -> str:
    version = assay_version or str(_rbridge.call("hb_default_assay_version", what="checking SeuratObject")[0])
    if version == "v5" and not bool(_rbridge.call("hb_seurat_object_v5", what="checking SeuratObject")[0]):
        msg = (
            f"assay_version='v5' needs SeuratObject >= 5.0.0 (installed: {_rbridge.package_version('SeuratObject')}); "
            "pass assay_version='v4' or upgrade SeuratObject"
        )
        raise ValueError(msg)
    if version == "v5":
        _check_v5_shape(adata, raw == "assay")
    return version


def _check_v5_shape(adata: AnnData, with_raw: bool) -> None:
    """SeuratObject < 5.4 cannot build an Assay5 with a single cell or feature (fixed in 5.4.0)."""
    shapes = [adata.shape] + ([adata.raw.shape] if with_raw and adata.raw is not None else [])
    if all(min(shape) > 1 for shape in shapes):
        return
    installed = _rbridge.package_version("SeuratObject")
    if tuple(int(p) for p in installed.split(".")[:2]) >= (5, 4):
        return
    n_obs, n_vars = next(shape for shape in shapes if min(shape) == 1)
    msg = (
        f"SeuratObject {installed} cannot build a v5 assay (Assay5) of {n_obs} cell(s) x {n_vars} feature(s): "
        "one cell or one feature needs SeuratObject >= 5.4.0; pass assay_version='v4' or upgrade SeuratObject"
    )
    raise ValueError(msg)


def _named_layers(adata: AnnData) -> dict[str, Any]:
    """``adata.layers`` without the ``None`` key under which anndata >= 0.13 also lists ``X``."""
    return {k: v for k, v in adata.layers.items() if k is not None}


# ---- one helper per slot --------------------------------------------------------------------


def _process_X(adata: AnnData, t: _Target) -> Any:
    t.rec.X = matrix_spec(adata.X, "adata.X")
    return r_matrix(adata.X, t.features_r, t.cells_r, "adata.X")


def _process_layers(layers_in: dict[str, Any], t: _Target) -> tuple[Any, Any, dict[str, Any]]:
    """counts, scale.data and (v5) other layers; v4 drops the others (logged)."""
    counts = scale = None
    layers = {}
    for name, value in layers_in.items():
        spec = matrix_spec(value, f"adata.layers[{name!r}]")
        if name == "counts":
            counts = r_matrix(value, t.features_r, t.cells_r, "layers['counts']")
        elif name == "scale.data":
            dense = value if not sp.issparse(value) else value.toarray()
            scale = r_matrix(dense, t.features_r, t.cells_r, "layers['scale.data']")
        elif t.version == "v5" and name != "data" and SLOT_OF.get(name) is None:
            layers[name] = r_matrix(value, t.features_r, t.cells_r, f"layers[{name!r}]")
        else:
            why = (
                "v4 assays hold only counts, data and scale.data; use assay_version='v5'"
                if t.version == "v4"
                else "the name is taken by X"
            )
            t.log.add("dropped", "layers", name, reason=why)
            continue
        t.rec.layers[name] = spec
    return counts, scale, layers


def _process_scale_data(
    adata: AnnData, layers_in: dict[str, Any], scale: Any, t: _Target
) -> tuple[Any, dict[str, Any]]:
    """Seurat's usual scale.data over some features, from ``uns['seurat']['scale.data']``.

    Returns it and the uns left to carry."""
    uns = dict(adata.uns)
    seurat_uns = uns.get("seurat")
    if isinstance(seurat_uns, dict) and "scale.data" in seurat_uns and scale is None:
        sd = seurat_uns["scale.data"]
        sd_feats = [str(f) for f in np.asarray(sd["features"])]
        unknown = sorted(set(sd_feats) - set(adata.var_names.astype(str)))
        if unknown:
            msg = f"uns['seurat']['scale.data'] names features not in var_names: {unknown[:5]}; fix or remove it"
            raise ValueError(msg)
        pos = pd.Index(adata.var_names.astype(str)).get_indexer(sd_feats)
        matrix = np.asarray(sd["data"])
        scale = r_matrix(
            matrix, _rbridge.r_strings([t.features[p] for p in pos]), t.cells_r, "uns['seurat']['scale.data']"
        )
        t.rec.scale_data = {"where": "uns", "dtype": str(matrix.dtype), "features": sd_feats}
        uns["seurat"] = {k: v for k, v in seurat_uns.items() if k != "scale.data"}
        if not uns["seurat"]:
            del uns["seurat"]
            t.rec.scale_data["drop_seurat"] = True
    elif "scale.data" in layers_in:
        t.rec.scale_data = {"where": "layer"}
    return scale, uns


def _process_obs_var(adata: AnnData, plan: list[dict[str, Any]], t: _Target, xp: _extras.Plan) -> tuple[Any, Any]:
    """meta.data (syntactic, unique column names; renames logged) and the feature metadata.

    Columns made from Seurat's slots (``xp.obs_drop``, ``xp.var_drop``) go back to their slots instead."""
    reserved = {t.assay, f"{t.assay}_raw"} | {p["name"] for p in plan} | {f"{t.assay}_{k}" for k in adata.obsp}
    obs = adata.obs.drop(columns=xp.obs_drop) if xp.obs_drop else adata.obs
    obs_cols = [str(c) for c in obs.columns]
    r_obs_names = unique_names([make_name(c) for c in obs_cols], reserved)
    for c, r in zip(obs_cols, r_obs_names, strict=True):
        if c != r:
            t.log.add(
                "renamed", "obs column", c, r, "Seurat's [[<- needs syntactic, unique names; restored by from_seurat"
            )
    if len(set(obs_cols)) != len(obs_cols):
        duplicated = pd.Index(obs_cols)[pd.Index(obs_cols).duplicated()].tolist()
        msg = f"obs has duplicate column names {duplicated}; rename them"
        raise ValueError(msg)
    obs_r, t.rec.obs = r_frame(obs, "obs", r_obs_names, t.log)
    var = adata.var.drop(columns=xp.var_drop) if xp.var_drop else adata.var.copy(deep=False)
    var.index = t.features
    var_r, t.rec.var = r_frame(var, "var", [str(c) for c in var.columns], t.log)
    return obs_r, var_r


def _process_raw(adata: AnnData, raw: str, t: _Target) -> dict[str, Any]:
    """``adata.raw`` as a second assay ``<assay>_raw``, or dropped (logged)."""
    extra = {}
    if adata.raw is None:
        return extra
    if raw != "assay":
        t.log.add("dropped", "raw", "adata.raw", reason="raw='drop'")
        return extra
    raw_features, raw_renamed = feature_map(adata.raw.var_names, "raw")
    raw_feats_r = _rbridge.r_strings(raw_features)
    raw_var = adata.raw.var.copy(deep=False)
    raw_var.index = raw_features
    raw_var_r, raw_var_rec = r_frame(raw_var, "raw.var", [str(c) for c in raw_var.columns], t.log)
    extra[f"{t.assay}_raw"] = _rbridge.r_list(
        {"data": r_matrix(adata.raw.X, raw_feats_r, t.cells_r, "adata.raw.X"), "var": raw_var_r}
    )
    t.rec.raw = {
        "assay": f"{t.assay}_raw",
        "X": matrix_spec(adata.raw.X, "adata.raw.X"),
        "var": raw_var_rec,
        "features": adata.raw.var_names.astype(str).tolist() if raw_renamed else None,
        "var_index": {"name": adata.raw.var.index.name},
    }
    log_features(t.log, "raw features", raw_renamed)
    if len(adata.raw.varm):
        t.log.add("dropped", "raw.varm", list(adata.raw.varm), reason="Seurat assays have no varm")
    return extra


def _dense(values: Any, rows_r: Any, key: str, what: str) -> Any:
    """A rows x columns R matrix with columns named ``<key>1``, ``<key>2``, ..."""
    values = np.asarray(values)
    columns = _rbridge.r_strings([f"{key}{i + 1}" for i in range(values.shape[1])])
    return _rbridge.call(
        "hb_dense", _rbridge.r_double_columns(values), values.shape[0], values.shape[1], rows_r, columns, what=what
    )


def _process_reductions(adata: AnnData, plan: list[dict[str, Any]], t: _Target) -> list[Any]:
    """obsm entries as reductions; pca also gets ``varm['PCs']`` as loadings and the stdev from ``uns['pca']``."""
    reductions = []
    pca_name = next((p["name"] for p in plan if p["obsm"] == "X_pca"), None)
    for p in plan:
        value = p["value"]
        emb_spec = {"key": p["obsm"], "dtype": str(value.dtype), "sparse": bool(sp.issparse(value))}
        emb = value.toarray() if sp.issparse(value) else np.asarray(value)
        item = {
            "name": _rbridge.r_strings([p["name"]]),
            "key": _rbridge.r_strings([p["key"]]),
            "embeddings": _dense(emb, t.cells_r, p["key"], "embedding"),
        }
        if p["name"] == pca_name:
            pcs = adata.varm.get("PCs")
            if pcs is not None and np.shape(pcs)[1] == emb.shape[1]:
                pcs = np.asarray(pcs)
                item["loadings"] = _dense(pcs, t.features_r, p["key"], "loadings")
                t.rec.varm_PCs = {"dtype": str(pcs.dtype)}
            variance = (adata.uns.get("pca") or {}).get("variance") if isinstance(adata.uns.get("pca"), dict) else None
            if variance is not None and np.shape(variance) == (emb.shape[1],):
                item["stdev"] = _rbridge.r_double(np.sqrt(np.asarray(variance, dtype=np.float64)))
        reductions.append(_rbridge.r_list(item))
        t.rec.obsm[p["name"]] = emb_spec
    for k in adata.varm:
        if k != "PCs" or t.rec.varm_PCs is None:
            t.log.add(
                "dropped",
                "varm",
                k,
                reason="only varm['PCs'] (with obsm['X_pca'] of as many columns) maps to pca loadings",
            )
    return reductions


def _process_graphs(adata: AnnData, t: _Target) -> dict[str, Any]:
    """obsp entries as Graphs ``<assay>_<key>``."""
    graphs = {}
    for k, g in adata.obsp.items():
        gname = make_name(f"{t.assay}_{k}")
        spec = matrix_spec(g, f"adata.obsp[{k!r}]")
        check_nnz(g, f"adata.obsp[{k!r}]")
        gcsc = sp.csc_matrix(g)  # R wants the graph itself column-major (not its transpose)
        graphs[gname] = r_matrix(
            sp.csr_matrix((gcsc.data, gcsc.indices, gcsc.indptr), shape=g.shape[::-1]),
            t.cells_r,
            t.cells_r,
            f"obsp[{k!r}]",
        )
        t.rec.obsp[gname] = {"key": k, **spec}
        if gname != f"{t.assay}_{k}":
            t.log.add("renamed", "graph", f"{t.assay}_{k}", gname, "Seurat needs syntactic R names")
    return graphs


def to_seurat(
    adata: AnnData,
    *,
    assay: str | None = None,
    assay_version: Literal["v4", "v5"] | None = None,
    raw: Literal["assay", "drop"] = "assay",
    project: str = "SeuratProject",
    idents: str | None = None,
    x_layer: Literal["auto", "data", "counts"] = "auto",
    return_log: bool = False,
) -> Any:
    """Convert an AnnData to a Seurat object (an rpy2 object), exactly and reversibly.

    Parameters
    ----------
    adata
        The AnnData (or a MuData of :func:`to_mudata`: one modality per assay); it is not modified.
    assay
        Name of the Seurat assay that holds ``X`` (as ``data``) and ``layers["counts"]`` (as ``counts``);
        default: the assay the cells came from (``uns['seurat']['assay']``, set by :func:`from_seurat`), else RNA.
    assay_version
        ``"v5"`` (``Assay5``, needs SeuratObject >= 5) or ``"v4"`` (``Assay``); default: v5 when
        the installed SeuratObject has it, else v4.
    raw
        ``"assay"`` stores ``adata.raw`` as a second assay ``<assay>_raw`` (its ``X`` as ``data``,
        its ``var`` as feature metadata); ``"drop"`` leaves it out (logged).
    project
        Seurat project name.
    idents
        An obs column set as the identities (``Idents``); default: ``obs['ident']`` when it came
        from a Seurat object (``uns['seurat']['derived']``), else Seurat's default identities.
    x_layer
        What ``X`` holds when there is no ``layers['counts']``: ``"auto"`` takes integer-valued,
        non-negative values for counts, ``"counts"`` insists, ``"data"`` never does. Counts go to
        the ``counts`` layer with ``data`` as CreateSeuratObject sets it (v4: a copy of counts,
        v5: none until NormalizeData), and nCount_/nFeature_ are computed (logged).
    return_log
        Return ``(seurat, log)`` with the :class:`ConversionLog` instead of the object alone.

    Returns
    -------
    The Seurat object, or ``(object, ConversionLog)``. See :mod:`harmonybridge.convert` for the
    name map; what Seurat cannot hold as is is recorded in ``Misc(obj, "harmonybridge")`` so that
    :func:`from_seurat` restores it. Renames and drops raise one :class:`ConversionWarning`.
    """
    if _mudata.is_mudata(adata):  # one modality per assay (to_mudata's layout)
        adata = _mudata.from_mudata(adata, assay)
    if assay is None:  # the assay the cells came from (a Seurat object's default), else RNA
        seurat_uns = adata.uns.get(_extras.SEURAT_UNS)
        assay = str(seurat_uns.get(_extras.ASSAY, "RNA")) if isinstance(seurat_uns, dict) else "RNA"
    if assay_version is None:  # the class the assay had in Seurat (an SCTAssay is a v4 Assay)
        seurat_uns = adata.uns.get(_extras.SEURAT_UNS)
        versions = seurat_uns.get(_extras.VERSIONS) if isinstance(seurat_uns, dict) else None
        assay_version = (dict(versions).get(assay) if versions is not None else None) or None
    _check_arguments(adata, assay, assay_version, raw)
    if adata.is_view:
        adata = adata.copy()
    # every check that can fail cheaply comes before any work in R
    layers_in = _named_layers(adata)
    _check_sizes(adata, layers_in, raw)
    obs_names = adata.obs_names.astype(str)
    check_names(pd.Index(obs_names), "obs names")
    features, renamed = feature_map(adata.var_names, "var")
    version = _assay_version(adata, assay_version, raw)

    log = ConversionLog("AnnData -> Seurat")
    log_features(log, "features", renamed)
    rec = Record(
        assay=assay,
        version=version,
        features=adata.var_names.astype(str).tolist() if renamed else None,
        obs_index={"name": adata.obs.index.name, "dtype": str(adata.obs.index.dtype)},
        var_index={"name": adata.var.index.name, "dtype": str(adata.var.index.dtype)},
    )
    plan = reduction_plan(adata, assay, log)

    matrices = [adata.X, *layers_in.values(), *(p["value"] for p in plan), *adata.obsp.values()]
    if adata.raw is not None and raw == "assay":
        matrices.append(adata.raw.X)
    _rbridge.reserve(sum(r_bytes(m) for m in matrices))  # one garbage collection for all of them
    t = _Target(
        assay, version, features, _rbridge.r_strings(obs_names.tolist()), _rbridge.r_strings(features), rec, log
    )

    with shared_structure():  # X and counts of one pattern share their R i and p
        data = _process_X(adata, t)
        counts, scale, layers = _process_layers(layers_in, t)
        scale, uns = _process_scale_data(adata, layers_in, scale, t)
        scale = process_projection_scale(adata, plan, scale, t)  # what ProjectDim (RunHarmony) reads
        xp = _extras.plan(adata, uns, assay, layers_in, idents=idents, x_layer=x_layer, log=log)
        if xp.x_counts:
            counts, data = data, None
        obs_r, var_r = _process_obs_var(adata, plan, t, xp)
        extra = _process_raw(adata, raw, t)
        own_plan, homed = homed_reductions(plan, xp.homes, xp.assays, t)  # reductions made on another assay
        reductions = _process_reductions(adata, own_plan, t) + homed
        graphs = _process_graphs(adata, t)
        extra_assays, extra_reductions, extra_graphs, graph_assays = _extras.r_other_assays(xp, t.cells_r, log)
        extra.update(extra_assays)
        reductions += extra_reductions
        graphs.update(extra_graphs)
        slots = _extras.r_slot_args(xp, adata, features, rec, log)
        misc = rec.to_misc(r_uns(xp.uns, "", log))
        obj = _rbridge.call(
            "hb_to_seurat",
            assay,
            data,
            counts=counts,
            scale_data=scale,
            layers=_rbridge.r_list(layers),
            var=var_r,
            obs=obs_r,
            reductions=_rbridge.r_list(reductions),
            graphs=_rbridge.r_list(graphs),
            extra_assays=_rbridge.r_list(extra),
            misc=misc,
            version=version,
            project=project,
            graph_assays=_rbridge.r_list({k: _rbridge.r_strings([v]) for k, v in graph_assays.items()}) or None,
            **slots,
            what="building the Seurat object",
        )
    log.warn_if_lossy()
    return (obj, log) if return_log else obj
