"""Seurat's workflow on an AnnData, from Python: one conversion, calls by name, results back.

    python examples/seurat_session.py        # on ../shared/data/ifnb_2800_counts.h5ad; writes out/seurat_session/

The session converts the AnnData once; each ``s.Fn(...)`` runs Seurat's ``Fn`` on the object
held in R (``only_pos`` is ``only.pos``); when the block ends, what the calls added comes back
into the AnnData: normalised data in X (the counts move to ``layers["counts"]``), variable
features, PCA, UMAP, the SNN graph and the clusters. SCTransform's new assay comes back as an
AnnData of its own.
"""

import sys
from pathlib import Path

import anndata as ad
import numpy as np

import harmonybridge as hb

data = Path(__file__).resolve().parents[2] / "shared" / "data" / "ifnb_2800_counts.h5ad"
if len(sys.argv) > 1:
    data = Path(sys.argv[1])
adata = ad.read_h5ad(data)  # integer counts in X
mt = adata.var_names.str.startswith("MT-")
adata.obs["percent_mt"] = np.asarray(adata.X[:, mt].sum(1)).ravel() / np.asarray(adata.X.sum(1)).ravel() * 100

with hb.SeuratSession(adata) as s:
    s.NormalizeData(verbose=False)
    s.FindVariableFeatures(nfeatures=2000, verbose=False)
    s.ScaleData(verbose=False)
    s.RunPCA(npcs=30, verbose=False)
    s.FindNeighbors(dims=range(1, 31), verbose=False)
    s.FindClusters(resolution=0.5, verbose=False)
    s.RunUMAP(dims=range(1, 31), verbose=False)
    # a data.frame comes back as pandas; 100 cells per cluster keeps Seurat's Wilcoxon tests quick
    markers = s.FindAllMarkers(only_pos=True, max_cells_per_ident=100, verbose=False)
print(adata)
print(s.log)
print("clusters:", adata.obs["seurat_clusters"].nunique(), "| UMAP:", adata.obsm["X_umap"].shape)
cmp = hb.compare_clusterings(adata.obs["cell_type"], adata.obs["seurat_clusters"])
print(f"Seurat clusters vs the annotated cell types: ARI {cmp['ari']:.2f}, NMI {cmp['nmi']:.2f}")
top = markers.sort_values(["cluster", "p_val_adj"]).groupby("cluster", observed=True).head(3)
print(top[["cluster", "gene", "avg_log2FC", "pct.1", "pct.2", "p_val_adj"]].to_string(index=False))

# the one-call form; SCTransform makes an assay of its own, returned beside the main one
assays = hb.call_seurat(adata, "SCTransform", vars_to_regress="percent_mt", copy=True, verbose=False)
sct = assays["SCT"]
print("SCT assay:", sct.n_obs, "cells x", sct.n_vars, "features; layers:", list(sct.layers))

out = Path("out/seurat_session")
out.mkdir(parents=True, exist_ok=True)
adata.write_h5ad(out / "ifnb_seurat.h5ad")
sct.write_h5ad(out / "ifnb_sct.h5ad")
markers.to_csv(out / "markers.csv")
print("wrote", out)
