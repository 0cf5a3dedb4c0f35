"""Names across the boundary: features Seurat rewrites, R's syntactic names, reduction keys."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from ._log import ConversionLog

#: The declarative name map: (AnnData place, Seurat place). Read by both directions.
NAME_MAP: tuple[tuple[str, str], ...] = (
    ("X", "data"),
    ("layers/counts", "counts"),
    ("layers/scale.data", "scale.data"),
)
#: obsm key <-> (reduction name, reduction key)
REDUCTIONS: dict[str, tuple[str, str]] = {
    "X_pca": ("pca", "PC_"),
    "X_pca_harmony": ("harmony", "harmony_"),
    "X_umap": ("umap", "UMAP_"),
    "X_tsne": ("tsne", "tSNE_"),
}
SLOT_OF = {v: k for k, v in NAME_MAP}
OBSM_OF = {name: key for key, (name, _) in REDUCTIONS.items()}


def seurat_feature_name(name: str) -> str:
    """A feature name as Seurat writes it: ``_`` and ``|`` become ``-`` (the one place this rule is spelled)."""
    return name.replace("_", "-").replace("|", "-")


def reduction_name(obsm_key: str) -> str:
    """scanpy's obsm key -> Seurat's reduction name (before R's syntactic rewrite): the name map's keys
    (``X_pca`` -> ``pca``, ``X_pca_harmony`` -> ``harmony``, ...), a suffixed Harmony key
    (``X_pca_harmony_r`` -> ``harmony_r``), else ``X_`` dropped (``X_name`` -> ``name``)."""
    if obsm_key in REDUCTIONS:
        return REDUCTIONS[obsm_key][0]
    if obsm_key.startswith("X_pca_harmony"):
        return "harmony" + obsm_key[len("X_pca_harmony") :]
    return obsm_key[2:] if obsm_key.startswith("X_") and len(obsm_key) > 2 else obsm_key


def obsm_key(reduction: str) -> str:
    """Seurat's reduction name -> scanpy's obsm key: the name map's (``pca`` -> ``X_pca``, ``harmony``
    -> ``X_pca_harmony``, ...), else ``X_<name>``."""
    return OBSM_OF.get(reduction) or f"X_{reduction}"


_R_RESERVED = {
    "if",
    "else",
    "repeat",
    "while",
    "function",
    "for",
    "next",
    "break",
    "TRUE",
    "FALSE",
    "NULL",
    "Inf",
    "NaN",
    "NA",
    "NA_integer_",
    "NA_real_",
    "NA_character_",
    "NA_complex_",
    "in",
}


def make_name(name: str) -> str:
    """Python twin of R's ``make.names`` for one name (ASCII letters, digits, '.', '_')."""
    out = "".join(c if (c.isascii() and (c.isalnum() or c in "._")) else "." for c in name)
    if not out or not (out[0].isalpha() or (out[0] == "." and not (len(out) > 1 and out[1].isdigit()))):
        out = "X" + out
    if out in _R_RESERVED:
        out += "."
    return out


def unique_names(wanted: list[str], taken: set[str]) -> list[str]:
    out, used = [], set(taken)
    for name in wanted:
        new, i = name, 0
        while new in used:
            i += 1
            new = f"{name}.{i}"
        used.add(new)
        out.append(new)
    return out


def check_names(names: pd.Index, what: str) -> None:
    if not names.is_unique:
        dup = names[names.duplicated()].unique()[:5].tolist()
        fix = "adata.obs_names_make_unique()" if what.startswith("obs") else "adata.var_names_make_unique()"
        msg = f"{what} are not unique (e.g. {dup}); Seurat needs unique names: call {fix} first"
        raise ValueError(msg)
    if (names == "").any():
        msg = f"{what} include an empty name; Seurat refuses empty names: rename it first"
        raise ValueError(msg)


def feature_map(var_names: pd.Index, where: str) -> tuple[list[str], dict[str, str]]:
    """Seurat-side feature names and {seurat: original} for the ones Seurat would rewrite."""
    names = var_names.astype(str)
    check_names(pd.Index(names), "var names" if where == "var" else f"{where} var names")
    bad = names.str.contains("_", regex=False) | names.str.contains("|", regex=False)
    if not bad.any():
        return names.tolist(), {}
    new = np.asarray(names, dtype=object).copy()
    new[bad] = [seurat_feature_name(n) for n in names[bad]]
    idx = pd.Index(new)
    if not idx.is_unique:
        dup = set(idx[idx.duplicated()])
        pairs = [sorted(n for n in names if seurat_feature_name(n) == d) for d in list(dup)[:5]]
        msg = (
            f"feature names collide once Seurat turns '_' and '|' into '-': {pairs}; "
            f"rename them first (e.g. adata.var_names = adata.var_names.str.replace('_', '.'))"
        )
        raise ValueError(msg)
    return new.tolist(), {new[i]: names[i] for i in np.flatnonzero(bad)}


def key_base(name: str) -> str:
    base = "".join(c for c in name if c.isascii() and c.isalnum())
    return base if base and not base[0].isdigit() else f"X{base}"


def log_features(log: ConversionLog, where: str, renamed: dict[str, str]) -> None:
    if renamed:
        shown = ", ".join(f"{o} -> {n}" for n, o in list(renamed.items())[:3])
        more = ", ..." if len(renamed) > 3 else ""
        log.add(
            "renamed",
            where,
            f"{len(renamed)} name(s)",
            f"Seurat names ({shown}{more})",
            "Seurat turns '_' and '|' into '-'; restored by from_seurat",
        )


def restore_features(seurat_names: np.ndarray, original: list[str] | None) -> pd.Index:
    if original is not None and len(original) == len(seurat_names):
        if all(seurat_feature_name(o) == s for o, s in zip(original, seurat_names, strict=True)):
            return pd.Index(original)
    return pd.Index(seurat_names)


def restore_scale_features(sd_seurat: np.ndarray, seurat_features: np.ndarray, features: pd.Index) -> list[str]:
    pos = pd.Index(seurat_features).get_indexer(sd_seurat)
    return [features[p] if p >= 0 else s for p, s in zip(pos, sd_seurat, strict=True)]


def reduction_plan(adata: AnnData, assay: str, log: ConversionLog) -> list[dict[str, Any]]:
    """Which obsm entries become which reductions (name and key), checked before any work in R."""
    plan, used_names, used_keys = [], {assay, f"{assay}_raw"}, {f"{key_base(assay.lower())}_", "rnaraw_"}
    for key, value in adata.obsm.items():
        if isinstance(value, pd.DataFrame):
            log.add("dropped", "obsm", key, reason="data frames are not reductions; store a numeric array")
            continue
        if not (
            sp.issparse(value) or (isinstance(value, np.ndarray) and value.ndim == 2 and value.dtype.kind in "biuf")
        ):
            log.add("dropped", "obsm", key, reason=f"{type(value).__name__} is not a 2-D numeric array")
            continue
        if value.shape[1] == 0:
            log.add("dropped", "obsm", key, reason="no columns")
            continue
        name = reduction_name(key)
        rkey = REDUCTIONS[key][1] if key in REDUCTIONS else f"{key_base(name)}_"
        rname = make_name(name)
        if rname in used_names:
            msg = (
                f"obsm keys {key!r} and another key both map to the Seurat reduction {rname!r}; "
                "rename one of them (adata.obsm[new] = adata.obsm.pop(old))"
            )
            raise ValueError(msg)
        used_names.add(rname)
        if rname != name:
            log.add("renamed", "reduction", name, rname, "Seurat needs syntactic R names")
        base, i = rkey[:-1], 1
        while rkey in used_keys:
            i += 1
            rkey = f"{base}{i}_"
        used_keys.add(rkey)
        plan.append({"obsm": key, "name": rname, "key": rkey, "value": value})
    return plan
