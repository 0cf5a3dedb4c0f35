"""The workflow harmonybridge serves, end to end: QC, normalize, HVGs by batch, PCA,
Harmony, neighbors, UMAP, Leiden, markers, LISI and figures."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from . import _check
from ._harmony import run_harmony
from ._metrics import median_lisi

logger = logging.getLogger("harmonybridge")

#: Canonical PBMC markers, shown on the corrected UMAP to spot over-correction.
PBMC_MARKERS = ["CD3E", "CD8A", "MS4A1", "CD79A", "CD14", "LYZ", "FCGR3A", "NKG7", "GNLY", "FCER1A", "PPBP", "IL7R"]


class Steps:
    """Numbered progress lines on the harmonybridge logger, with timings."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.start = total, 0, time.perf_counter()

    def __call__(self, what: str) -> None:
        self.done += 1
        logger.info("[%d/%d] %s (%.1f s elapsed)", self.done, self.total, what, time.perf_counter() - self.start)


def load_pbmc68k() -> AnnData:
    """scanpy's bundled ``pbmc68k_reduced`` (700 PBMCs), batch = 10x channel (barcode suffix)."""
    import scanpy as sc

    adata = sc.datasets.pbmc68k_reduced()
    channel = adata.obs_names.str.rsplit("-", n=1).str[-1]
    adata.obs["channel"] = pd.Categorical(channel, categories=sorted(set(channel), key=int))
    return adata


def _is_counts(X: Any) -> bool:
    values = X.data if sp.issparse(X) else np.asarray(X)
    sample = values[:1_000_000]
    return bool(sample.size == 0 or ((sample >= 0).all() and np.allclose(sample, np.round(sample))))


def preprocess(
    adata: AnnData,
    batch_key: str,
    *,
    min_genes: int = 200,
    min_cells: int = 3,
    max_pct_mt: float = 20.0,
    n_top_genes: int = 2000,
    n_comps: int = 30,
    random_state: int = 0,
) -> AnnData:
    """From raw counts to a PCA: QC, normalize, log1p, HVGs with ``batch_key``, PCA. Returns a new AnnData.

    Counts are taken from ``layers['counts']`` when present, else from ``X``; they end in
    ``layers['counts']``, log-normalized values in ``X`` and ``raw``.
    """
    import scanpy as sc

    _check.batch_frame(adata, _check.batch_keys(adata, batch_key))
    source = "layers['counts']" if "counts" in adata.layers else "X"
    counts = adata.layers["counts"] if "counts" in adata.layers else adata.X
    if not _is_counts(counts):
        msg = (
            f"adata.{source} does not hold raw counts (negative or non-integer values); "
            "put counts in X or layers['counts']"
        )
        raise ValueError(msg)
    out = adata.copy()
    out.X = counts.copy()
    out.layers["counts"] = out.X.copy()
    n0, g0 = out.shape
    sc.pp.filter_cells(out, min_genes=min_genes)
    sc.pp.filter_genes(out, min_cells=min_cells)
    out.var["mt"] = out.var_names.str.upper().str.startswith("MT-")
    sc.pp.calculate_qc_metrics(out, qc_vars=["mt"], percent_top=None, log1p=False, inplace=True)
    out = out[out.obs["pct_counts_mt"] <= max_pct_mt].copy()
    logger.info("QC: %d of %d cells and %d of %d genes kept", out.n_obs, n0, out.n_vars, g0)
    _check.n_cells(out)
    sc.pp.normalize_total(out, target_sum=1e4)
    sc.pp.log1p(out)
    out.raw = out
    sc.pp.highly_variable_genes(out, n_top_genes=min(n_top_genes, out.n_vars - 1), batch_key=batch_key, flavor="seurat")
    n_comps = min(n_comps, int(out.var["highly_variable"].sum()) - 1, out.n_obs - 1)
    sc.pp.pca(out, n_comps=n_comps, mask_var="highly_variable", random_state=random_state)
    return out


@dataclass
class WorkflowResult:
    """What :func:`integrate_and_cluster` produced, for printing and tests."""

    adata: AnnData
    batch_key: str
    lisi_before: float
    lisi_after: float
    figures: dict[str, Path] = field(default_factory=dict)
    output: Path | None = None

    @property
    def n_clusters(self) -> int:
        return int(self.adata.obs["leiden"].nunique())

    def summary(self) -> str:
        return (
            f"cells: {self.adata.n_obs}  clusters: {self.n_clusters}  "
            f"median batch LISI ({self.batch_key}): "
            f"{self.lisi_before:.2f} before -> {self.lisi_after:.2f} after Harmony"
        )


def integrate_and_cluster(
    adata: AnnData,
    batch_key: str,
    *,
    backend: str = "python",
    n_neighbors: int = 15,
    resolution: float = 1.0,
    random_state: int = 0,
    progress: Callable[[str], None] | None = None,
    **harmony_kwargs: Any,
) -> WorkflowResult:
    """Harmony, neighbors, UMAP and Leiden on corrected and uncorrected PCs, markers, LISI. In place."""
    import scanpy as sc

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
    sc.tl.leiden(
        adata,
        resolution=resolution,
        key_added="leiden",
        flavor="igraph",
        n_iterations=2,
        directed=False,
        random_state=random_state,
    )
    step("marker genes per cluster (Wilcoxon)")
    sc.tl.rank_genes_groups(adata, "leiden", method="wilcoxon", use_raw=adata.raw is not None)
    step("batch LISI before and after")
    labels = adata.obs[batch_key]
    before = median_lisi(adata.obsm["X_pca"], labels)
    after = median_lisi(adata.obsm["X_pca_harmony"], labels)
    adata.uns["harmonybridge_lisi"] = {"batch_key": batch_key, "median_before": before, "median_after": after}
    return WorkflowResult(adata=adata, batch_key=batch_key, lisi_before=before, lisi_after=after)
