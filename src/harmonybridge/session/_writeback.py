"""Bringing a session's results back: what changed in R, read first, then written into the AnnData."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from harmonybridge._core.warnings import ConversionWarning
from harmonybridge._rbridge import seurat_calls as rs
from harmonybridge.convert import OBSM_OF, ConversionLog, from_seurat, obsm_key, seurat_feature_name

#: reduction name -> obsm key (the name map of to_seurat / from_seurat)
OBSM_KEYS = OBSM_OF


def collect(s: Any, log: ConversionLog) -> dict[str, Any]:
    """Read from R what the calls of session ``s`` added or changed (nothing is written yet)."""
    d = rs.diff(s._start, s.obj, s.assay)
    up: dict[str, Any] = {k: {} for k in ("obs", "layers", "var", "obsm", "varm", "obsp", "uns_seurat", "assays")}
    up["X"] = up["highly_variable"] = up["pca_variance"] = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        main = from_seurat(s.obj, assay=s.assay)
    names = s._adata.obs_names
    if not main.obs_names.equals(names):
        msg = (
            "the session's Seurat object no longer has the AnnData's cells (a call subset or reordered them); "
            "use s.obj directly"
        )
        raise ValueError(msg)
    feature_of = pd.Index([seurat_feature_name(v) for v in s._adata.var_names.astype(str)])
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
            log.add("moved", s.assay, "data", "X")
        elif layer in main.layers:
            up["layers"][layer] = main.layers[layer]
            log.add("moved", s.assay, layer, f"layers[{layer!r}]")
        elif layer == "scale.data" and "scale.data" in (main.uns.get("seurat") or {}):
            up["uns_seurat"]["scale.data"] = main.uns["seurat"]["scale.data"]
            log.add("moved", s.assay, "scale.data", "uns['seurat']['scale.data']", "it covers some features only")
        else:
            log.add("dropped", s.assay, f"layer {layer}", reason="not readable as cells x features")
    for col in d["var"]:
        if col in main.var:
            up["var"][col] = main.var[col]
            log.add("moved", f"{s.assay} feature metadata", col, f"var[{col!r}]")
        else:  # Seurat 5's var.features/var.features.rank: read as VariableFeatures
            log.add("moved", f"{s.assay} feature metadata", col, "var['highly_variable'] (VariableFeatures)")
    if d["var_features"]:
        vf = rs.variable_features(s.obj, s.assay)
        up["highly_variable"] = feature_of.isin(vf)
        log.add("moved", "VariableFeatures", f"{len(vf)} features", "var['highly_variable']")
    reductions: dict[str, Any] = {}
    for name in d["reductions"]:
        red = rs.reduction(s.obj, name)
        pos = names.get_indexer(red["cells"])
        if (pos < 0).any() or len(pos) != len(names):
            log.add("dropped", "reduction", name, reason=f"{len(red['cells'])} cells, not the AnnData's {len(names)}")
            continue
        order = np.argsort(pos)
        key = obsm_key(name)
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
                    reason=f"not features of assay {s.assay!r}",
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
        g, cells = rs.graph(s.obj, gname)
        pos = names.get_indexer(cells)
        if (pos < 0).any() or len(pos) != len(names):
            log.add("dropped", "graph", gname, reason="not a graph of the AnnData's cells")
            continue
        inv = np.argsort(pos)
        key = gname[len(s.assay) + 1 :] if gname.startswith(f"{s.assay}_") else gname
        up["obsp"][key] = g[inv][:, inv].tocsr()
        log.add("moved", "graph", gname, f"obsp[{key!r}]")
    for n in d["neighbors"]:
        log.add("dropped", "Neighbor", n, reason="Neighbor objects are not converted (their graphs are)")
    for n in d["misc"]:
        log.add("dropped", "Misc", n, reason="not converted; read it from s.obj")
    for n in d["tools"]:
        log.add("dropped", "Tool", n, reason="not converted; read it from s.obj")
    if d["idents"]:
        ident, same = rs.idents(s.obj)
        if same:
            log.add("kept", "Idents", "Idents", reason=f"the same as meta.data {same[0]!r}")
        else:
            up["obs"]["ident"] = pd.Series(ident, index=names)
            log.add("moved", "Idents", "Idents", "obs['ident']")
    for a in d["new_assays"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConversionWarning)
            sub = from_seurat(s.obj, assay=a)
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
    if d["default_assay"] != s.assay:
        log.add(
            "kept",
            "DefaultAssay",
            d["default_assay"],
            reason=f"the calls made it the default; the AnnData is assay {s.assay!r}",
        )
    up["uns_seurat"]["calls"] = list(s.calls)
    return up


def apply(target: AnnData, up: dict[str, Any], counts_in_x: bool, log: ConversionLog) -> None:
    """Write what :func:`collect` read into ``target``."""
    if up["X"] is not None:
        if counts_in_x and "counts" not in target.layers:
            target.layers["counts"] = target.X
            log.add("moved", "X", "counts", "layers['counts']", "X now holds Seurat's data")
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
