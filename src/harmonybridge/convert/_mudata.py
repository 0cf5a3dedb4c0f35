"""Every assay of a Seurat object as a MuData modality, and back (``pip install mudata``)."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
from anndata import AnnData

from ._extras import ASSAY, ASSAYS, SEURAT_UNS, assay_fields, assays
from ._homes import REDUCTION_ASSAYS

#: What a modality keeps of its assay beyond the AnnData fields (restored by :func:`from_mudata`).
ASSAY_UNS = "harmonybridge_assay"
_ASSAY_FIELDS = ("stdev", "x_is_counts", "version")


def check_installed():
    """The mudata module, or an ImportError saying how to install it."""
    try:
        import mudata
    except ImportError as err:
        msg = "a MuData needs the mudata package: pip install mudata (or pip install 'harmonybridge[mudata]')"
        raise ImportError(msg) from err
    return mudata


def is_mudata(obj: Any) -> bool:
    """Whether ``obj`` is a MuData (without importing mudata when it is not installed)."""
    return any(c.__name__ == "MuData" and c.__module__.startswith("mudata") for c in type(obj).__mro__)


def to_mudata(adata: AnnData) -> Any:
    """A converted Seurat object (see :func:`from_seurat`) as a MuData with one modality per assay.

    The default assay's modality is ``adata`` itself (its obs, reductions, graphs and uns) less
    ``uns['seurat']['assays']``; every other assay is a modality of its own (its layers,
    reductions and graphs), named as in Seurat. ``mdata.obs`` is the cells' metadata.
    :func:`to_seurat` and :func:`write` take the MuData back. ``adata`` is not modified.
    """
    md = check_installed()
    seurat = adata.uns.get(SEURAT_UNS)
    seurat = dict(seurat) if isinstance(seurat, dict) else {}
    default = str(seurat.get(ASSAY, "RNA"))
    stored = seurat.pop(ASSAYS, None) or {}
    homes = seurat.pop(REDUCTION_ASSAYS, None) or {}  # those reductions go to their assay's modality
    main = adata.copy()
    for key in homes:
        main.obsm.pop(key, None)
    if seurat:
        main.uns[SEURAT_UNS] = seurat
    else:
        main.uns.pop(SEURAT_UNS, None)
    mods = {default: main}
    for name, sub in assays(adata).items():
        sub.obs = pd.DataFrame(index=adata.obs_names)  # the metadata lives once, in mdata.obs
        sub.uns[ASSAY_UNS] = {k: stored[name][k] for k in _ASSAY_FIELDS if k in stored[name]}
        mods[name] = sub
    with warnings.catch_warnings():  # assays that share gene names (RNA and SCT) are normal here
        warnings.filterwarnings("ignore", message="Cannot join columns with the same name", category=UserWarning)
        mdata = md.MuData(mods)
    mdata.obs = adata.obs.copy()
    return mdata


def from_mudata(mdata: Any, assay: str | None = None) -> AnnData:
    """The AnnData that :func:`to_seurat` reads, from a MuData of :func:`to_mudata` (or any MuData
    whose modalities share their cells): modality ``assay`` (default: the one that came from
    Seurat's default assay, else the first) with its cells' metadata; the others as other assays."""
    names = list(mdata.mod)
    if assay is None:
        marked = [n for n in names if isinstance(mdata.mod[n].uns.get(SEURAT_UNS), dict)]
        assay = marked[0] if marked else names[0]
    if assay not in mdata.mod:
        msg = f"assay {assay!r} is not a modality of the MuData; modalities: {names}"
        raise KeyError(msg)
    main = mdata.mod[assay]
    for name in names:
        if not mdata.mod[name].obs_names.equals(main.obs_names):
            msg = (
                f"modality {name!r} does not hold the same cells in the same order as {assay!r}; a Seurat "
                "object's assays share their cells (subset the MuData to common cells first)"
            )
            raise ValueError(msg)
    adata = main.copy()
    prefixed = tuple(f"{n}:" for n in names)
    extra = [c for c in mdata.obs.columns if not str(c).startswith(prefixed) and c not in adata.obs.columns]
    if extra:
        adata.obs = pd.concat([adata.obs, mdata.obs.loc[adata.obs_names, extra]], axis=1)
    others = {}
    for name in names:
        if name == assay:
            continue
        fields = assay_fields(mdata.mod[name])  # as read_rds stores another assay
        fields.update(fields["uns"].pop(ASSAY_UNS, None) or {})
        others[name] = fields
    seurat = adata.uns.get(SEURAT_UNS)
    seurat = dict(seurat) if isinstance(seurat, dict) else {}
    seurat.setdefault(ASSAY, assay)
    if others:
        seurat[ASSAYS] = others
    adata.uns[SEURAT_UNS] = seurat
    return adata
