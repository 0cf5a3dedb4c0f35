"""The workflow harmonybridge serves, end to end: QC, normalize, HVGs by batch, PCA,
Harmony, neighbors, UMAP, Leiden, markers, LISI and figures."""

from __future__ import annotations

import copy
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from harmonybridge._core import checks as _check
from harmonybridge._core.counts import is_counts
from harmonybridge.harmony import run_harmony
from harmonybridge.metrics import leiden, lisi

logger = logging.getLogger("harmonybridge")

#: The dataset ``harmonybridge demo`` runs on by default (package data; source and licence in data/README.md).
DEMO_FILE = "symphony_pbmcs_1200_counts.h5ad"
DEMO_BATCH, DEMO_LABEL = "donor", "cell_type"
#: Genes left out of the marker figures by default: ribosomal proteins (RPS*/RPL*, not kinases such as
#: RPS6KA1) and mitochondrial genes (MT-*). They top many clusters' rankings without telling cell types apart.
UNINFORMATIVE_GENES = re.compile(r"^(RP[SL](\d+[A-Z]?\d?|\d+AL|A|P\d)|MT-.*)$", re.IGNORECASE)


class Steps:
    """Numbered progress lines on the harmonybridge logger, with timings."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.start = total, 0, time.perf_counter()

    def __call__(self, what: str) -> None:
        self.done += 1
        logger.info("[%d/%d] %s (%.1f s elapsed)", self.done, self.total, what, time.perf_counter() - self.start)


def demo_path() -> Path:
    """The shipped demo file (1,200 PBMCs from three 10x chemistries, GPL-3; see ``data/README.md``)."""
    from importlib.resources import files

    return Path(str(files("harmonybridge.workflow").joinpath("data", DEMO_FILE)))


def load_demo() -> AnnData:
    """The shipped demo counts: batch ``donor`` (the 10x chemistry), labels ``cell_type``."""
    import anndata as ad

    return ad.read_h5ad(demo_path())


def preprocess(
    adata: AnnData,
    batch_key: str,
    *,
    min_genes: int = 200,
    min_cells: int = 3,
    max_pct_mt: float = 20.0,
    n_top_genes: int = 2000,
    n_comps: int = 30,
    scale: bool = True,
    max_value: float = 10.0,
    random_state: int = 0,
) -> AnnData:
    """From raw counts to a PCA, as scanpy's and Seurat's standard pipelines do it. Returns a new AnnData.

    QC (cells with ``min_genes`` genes and at most ``max_pct_mt`` % mitochondrial counts, genes
    in ``min_cells`` cells), ``normalize_total`` to 10,000 per cell, ``log1p``, ``n_top_genes``
    highly variable genes chosen within each batch (``batch_key``), then, with ``scale=True``
    (the default, as ``sc.pp.scale`` / ``ScaleData`` before ``RunPCA``), each HVG centred and
    scaled to unit variance, clipped at ``max_value``, and ``n_comps`` PCs. Without scaling,
    a few highly expressed genes dominate the PCs and cells of one type can stay split by batch.

    Counts are taken from ``layers['counts']`` when present, else from ``X``. The result holds
    one copy of each matrix: counts in ``layers['counts']``, log-normalized values in ``X``
    (sparse), no ``raw``; the scaled HVG matrix only serves the PCA and is not kept. The steps
    and settings are recorded in ``uns['harmonybridge_preprocess']``.
    """
    import scanpy as sc

    _check.batch_frame(adata, _check.batch_keys(adata, batch_key))
    source = "layers['counts']" if "counts" in adata.layers else "X"
    counts = adata.layers["counts"] if "counts" in adata.layers else adata.X
    if not is_counts(counts):
        msg = (
            f"adata.{source} does not hold raw counts (negative or non-integer values); "
            "put counts in X or layers['counts']"
        )
        raise ValueError(msg)
    out = AnnData(
        X=sp.csr_matrix(counts, dtype=np.float32),
        obs=adata.obs.copy(),
        var=adata.var.copy(),
        obsm={k: v.copy() for k, v in adata.obsm.items()},
        uns=copy.deepcopy({k: v for k, v in adata.uns.items() if k not in ("pca", "log1p", "hvg")}),
    )
    n0, g0 = out.shape
    sc.pp.filter_cells(out, min_genes=min_genes)
    sc.pp.filter_genes(out, min_cells=min_cells)
    out.var["mt"] = out.var_names.str.upper().str.startswith("MT-")
    sc.pp.calculate_qc_metrics(out, qc_vars=["mt"], percent_top=None, log1p=False, inplace=True)
    out = out[out.obs["pct_counts_mt"] <= max_pct_mt].copy()
    logger.info("QC: %d of %d cells and %d of %d genes kept", out.n_obs, n0, out.n_vars, g0)
    _check.n_cells(out)
    _check.batch_frame(out, [batch_key])  # QC may have emptied a batch
    out.layers["counts"] = out.X.copy()
    sc.pp.normalize_total(out, target_sum=1e4)
    sc.pp.log1p(out)
    n_hvg = min(n_top_genes, out.n_vars - 1)
    sc.pp.highly_variable_genes(out, n_top_genes=n_hvg, batch_key=batch_key, flavor="seurat")
    hvg = out[:, out.var["highly_variable"].to_numpy()].copy()
    if scale:
        if sp.issparse(hvg.X):  # centring densifies it anyway; say so here rather than through scanpy's warning
            hvg.X = hvg.X.toarray()
        logger.info(
            "scaling %d HVGs to unit variance (clipped at %s) before PCA, as the standard pipelines do",
            hvg.n_vars,
            max_value,
        )
        sc.pp.scale(hvg, max_value=max_value)
    else:
        logger.info("PCA on log-normalized HVGs, not scaled (scale=False)")
    n_comps = min(n_comps, hvg.n_vars - 1, out.n_obs - 1)
    sc.pp.pca(hvg, n_comps=n_comps, random_state=random_state)
    out.obsm["X_pca"] = hvg.obsm["X_pca"]
    loadings = np.zeros((out.n_vars, n_comps), dtype=hvg.varm["PCs"].dtype)
    loadings[out.var["highly_variable"].to_numpy()] = hvg.varm["PCs"]
    out.varm["PCs"] = loadings  # as sc.pp.pca(mask_var=...) stores it: zero outside the HVGs
    out.uns["pca"] = hvg.uns["pca"]
    out.uns["harmonybridge_preprocess"] = {
        "min_genes": min_genes,
        "min_cells": min_cells,
        "max_pct_mt": max_pct_mt,
        "n_top_genes": n_hvg,
        "hvg_batch_key": batch_key,
        "hvg_flavor": "seurat",
        "scale": bool(scale),
        "max_value": max_value if scale else None,
        "n_comps": n_comps,
        "normalize_total": 1e4,
        "counts_from": source,
    }
    return out


def pca_if_missing(adata: AnnData, batch: list[str], basis: str, src: str | Path) -> AnnData:
    """For ``run`` and ``check`` alike: a counts file without ``X_pca`` gets one as ``demo`` computes it
    (saying so, no cell or gene dropped); without counts either, an error naming both fixes.

    The PCA's preprocessing (normalize, log1p, HVGs, scaling) runs on a copy: ``X`` and the layers
    stay as given, and only what ``sc.pp.pca`` stores is added: ``obsm['X_pca']``, ``varm['PCs']``
    and ``uns['pca']`` (with the recipe in ``uns['pca']['preprocess']``).
    """
    if basis in adata.obsm or basis != "X_pca":
        return adata
    _check.batch_frame(adata, _check.batch_keys(adata, batch))
    counts = adata.layers["counts"] if "counts" in adata.layers else adata.X
    if counts is None or not is_counts(counts):
        msg = (
            f"'X_pca' not in adata.obsm of {str(src)!r} (available: {list(adata.obsm.keys())}), "
            "and it holds no raw counts "
            "(in X or layers['counts']) to compute one from; run sc.pp.pca(adata) first, or pass --basis"
        )
        raise KeyError(msg)
    logger.info(
        "no X_pca in %s: computing it from the counts as `demo` does (normalize, log1p, HVGs within each %r, "
        "genes scaled, PCA; no cell or gene dropped)",
        src,
        batch[0],
    )
    pre = preprocess(adata, batch[0], min_genes=0, min_cells=0, max_pct_mt=100.0)
    if pre.n_obs != adata.n_obs:
        empty = adata.obs_names[~adata.obs_names.isin(pre.obs_names)]
        first = ", ".join(repr(str(c)) for c in empty[:3])
        msg = (
            f"{len(empty)} cells of {str(src)!r} have no counts (first: {first}); a PCA cannot place them: "
            "drop them from the input file, or compute the PCA first and pass --basis"
        )
        raise ValueError(msg)
    adata.obsm["X_pca"] = pre.obsm["X_pca"]
    adata.varm["PCs"] = pre.varm["PCs"]
    adata.uns["pca"] = {**pre.uns["pca"], "preprocess": pre.uns["harmonybridge_preprocess"]}
    rec = pre.uns["harmonybridge_preprocess"]
    logger.info(
        "stored obsm['X_pca'] (%d PCs of %d genes variable within %r, log-normalized and scaled on a copy), "
        "varm['PCs'] and uns['pca']; X and layers are kept as given",
        rec["n_comps"],
        rec["n_top_genes"],
        batch[0],
    )
    return adata


@dataclass
class WorkflowResult:
    """What :func:`integrate_and_cluster` produced, for printing, figures and tests.

    ``lisi`` holds each cell's LISI: ``lisi[("batch" | "label", "before" | "after")]``, before
    = uncorrected PCs, after = Harmony's. Batch LISI: 1 = one batch around each cell, the
    number of batches = all mixed (higher is better). Label LISI: 1 = cell types kept apart.
    """

    adata: AnnData
    batch_key: str
    label_key: str | None = None
    lisi: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    output: Path | None = None

    @property
    def lisi_before(self) -> float:
        return float(np.median(self.lisi[("batch", "before")]))

    @property
    def lisi_after(self) -> float:
        return float(np.median(self.lisi[("batch", "after")]))

    def median_lisi(self, which: str, when: str) -> float:
        return float(np.median(self.lisi[(which, when)]))

    @property
    def n_clusters(self) -> int:
        return int(self.adata.obs["leiden"].nunique())

    def summary(self) -> str:
        n_batches = self.adata.obs[self.batch_key].nunique()
        mixed = "both" if n_batches == 2 else f"all {n_batches}"
        lines = [
            f"cells: {self.adata.n_obs}  clusters: {self.n_clusters}",
            f"median batch LISI ({self.batch_key}): {self.lisi_before:.2f} before -> {self.lisi_after:.2f} after "
            f"Harmony  (1 = one batch around each cell, {n_batches} = {mixed} mixed; higher is better)",
        ]
        if self.label_key is not None:
            n_labels = self.adata.obs[self.label_key].nunique()
            lines.append(
                f"median cell-type LISI ({self.label_key}): {self.median_lisi('label', 'before'):.2f} before -> "
                f"{self.median_lisi('label', 'after'):.2f} after Harmony  "
                f"(1 = cell types kept apart, up to {n_labels}; lower is better)"
            )
        return "\n".join(lines)


def integrate_and_cluster(
    adata: AnnData,
    batch_key: str,
    *,
    label_key: str | None = None,
    backend: str = "python",
    n_neighbors: int = 15,
    resolution: float = 1.0,
    random_state: int = 0,
    progress: Callable[[str], None] | None = None,
    **harmony_kwargs: Any,
) -> WorkflowResult:
    """Harmony, neighbors, UMAP and Leiden on corrected and uncorrected PCs, markers, LISI. In place.

    Markers: Wilcoxon test of each Leiden cluster against the rest, on the log-normalized
    values (``raw`` when present, else ``X``), in ``uns['rank_genes_groups']``.
    """
    import scanpy as sc

    if label_key is not None:
        _check.obs_key(adata, label_key, "label key")
    step = progress or (lambda _what: None)
    step(
        f"Harmony ({backend}) on {adata.obsm['X_pca'].shape[1] if 'X_pca' in adata.obsm else '?'} PCs, "
        f"batch {batch_key!r}"
    )
    run_harmony(adata, batch_key, backend=backend, random_state=random_state, **harmony_kwargs)
    step("neighbors and UMAP, uncorrected PCs")
    sc.pp.neighbors(adata, n_neighbors=n_neighbors, use_rep="X_pca", key_added="uncorrected", random_state=random_state)
    sc.tl.umap(adata, neighbors_key="uncorrected", random_state=random_state)
    adata.obsm["X_umap_uncorrected"] = adata.obsm.pop("X_umap")
    step("neighbors, UMAP and Leiden, Harmony-corrected PCs")
    sc.pp.neighbors(adata, n_neighbors=n_neighbors, use_rep="X_pca_harmony", random_state=random_state)
    sc.tl.umap(adata, random_state=random_state)
    leiden(adata, resolution=resolution, random_state=random_state)
    step("marker genes per cluster (Wilcoxon)")
    sc.tl.rank_genes_groups(adata, "leiden", method="wilcoxon", use_raw=adata.raw is not None)
    step("LISI of batches and cell types, before and after")
    result = WorkflowResult(adata=adata, batch_key=batch_key, label_key=label_key)
    for which, key in (("batch", batch_key), ("label", label_key)):
        if key is None:
            continue
        for when, basis in (("before", "X_pca"), ("after", "X_pca_harmony")):
            result.lisi[(which, when)] = lisi(adata.obsm[basis], adata.obs[key])
    adata.uns["harmonybridge_lisi"] = {
        "batch_key": batch_key,
        "median_before": result.lisi_before,
        "median_after": result.lisi_after,
        **(
            {
                "label_key": label_key,
                "label_median_before": result.median_lisi("label", "before"),
                "label_median_after": result.median_lisi("label", "after"),
            }
            if label_key is not None
            else {}
        ),
    }
    return result


def top_markers(
    adata: AnnData,
    n_genes: int = 3,
    *,
    exclude: re.Pattern[str] | None = UNINFORMATIVE_GENES,
    key: str = "rank_genes_groups",
) -> dict[str, list[str]]:
    """The ``n_genes`` best Wilcoxon markers of each cluster (from ``uns[key]``), each gene once.

    Only genes up in the cluster (positive log fold change, adjusted p < 0.05) count; genes
    matching ``exclude`` (by default ribosomal RPS/RPL and mitochondrial MT- genes) are skipped.
    A gene that tops two clusters is shown for the first; a cluster may then get fewer genes.
    """
    if key not in adata.uns:
        msg = f"no marker ranking in adata.uns[{key!r}]; run sc.tl.rank_genes_groups first"
        raise KeyError(msg)
    rgg = adata.uns[key]
    names = pd.DataFrame(rgg["names"])
    lfc = pd.DataFrame(rgg["logfoldchanges"]) if "logfoldchanges" in rgg else None
    padj = pd.DataFrame(rgg["pvals_adj"]) if "pvals_adj" in rgg else None
    seen: set[str] = set()
    out: dict[str, list[str]] = {}
    for group in names.columns:
        picked = []
        for i, gene in enumerate(names[group]):
            if len(picked) == n_genes:
                break
            if gene in seen or (exclude is not None and exclude.match(str(gene))):
                continue
            if lfc is not None and not lfc[group].iloc[i] > 0:
                continue
            if padj is not None and not padj[group].iloc[i] < 0.05:
                continue
            picked.append(str(gene))
            seen.add(str(gene))
        out[str(group)] = picked
    return out
