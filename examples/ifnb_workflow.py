"""The whole workflow on real counts: Kang 2018 IFN-beta stimulated vs control PBMCs.

    python examples/ifnb_workflow.py [--backend python|r]

QC, normalize, log1p, HVGs with batch_key, scaling, PCA, Harmony, neighbors, UMAP, Leiden, markers
and a before/after figure, step by step with scanpy. Uses ../shared/data/ifnb_2800_counts.h5ad
(beside the project), and says so and stops when it is absent.
"""

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import scanpy as sc

import harmonybridge as hb
from harmonybridge import report
from harmonybridge.metrics._scores import median_lisi

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ifnb_2800_counts.h5ad"
parser = argparse.ArgumentParser()
parser.add_argument("--backend", choices=["python", "r"], default="python")
args = parser.parse_args()
if not DATA.exists():
    sys.exit(f"{DATA} not found: this example needs the shared data folder beside the project")

adata = hb.read(DATA)  # integer counts, obs: stim (CTRL/STIM), cell_type
adata.layers["counts"] = adata.X.copy()
sc.pp.filter_cells(adata, min_genes=200)
sc.pp.filter_genes(adata, min_cells=3)
sc.pp.normalize_total(adata, target_sum=1e4)
sc.pp.log1p(adata)  # X: log-normalized (kept for markers); no raw, which would be a second copy of X
sc.pp.highly_variable_genes(adata, n_top_genes=2000, batch_key="stim", flavor="seurat")
# Scale the HVGs before PCA, as scanpy's and Seurat's standard pipelines do: without it, CD14 monocytes
# stay split by stimulation after Harmony. The scaled matrix only serves the PCA.
hvg = adata[:, adata.var["highly_variable"]].copy()
hvg.X = hvg.X.toarray()
sc.pp.scale(hvg, max_value=10)
sc.pp.pca(hvg, n_comps=30)
adata.obsm["X_pca"] = hvg.obsm["X_pca"]

hb.run_harmony(adata, "stim", backend=args.backend)  # -> obsm["X_pca_harmony"], uns["harmony"]

sc.pp.neighbors(adata, use_rep="X_pca", key_added="uncorrected")
sc.tl.umap(adata, neighbors_key="uncorrected")
adata.obsm["X_umap_uncorrected"] = adata.obsm.pop("X_umap")
sc.pp.neighbors(adata, use_rep="X_pca_harmony")
sc.tl.umap(adata)
sc.tl.leiden(adata, flavor="igraph", n_iterations=2, directed=False)
sc.tl.rank_genes_groups(adata, "leiden", method="wilcoxon")

before = median_lisi(adata.obsm["X_pca"], adata.obs["stim"])
after = median_lisi(adata.obsm["X_pca_harmony"], adata.obs["stim"])
print(f"{adata.n_obs} cells, {adata.obs['leiden'].nunique()} clusters; median stim LISI {before:.2f} -> {after:.2f}")
out = Path("out/ifnb")
out.mkdir(parents=True, exist_ok=True)
rows = [("stim", "condition (stim)"), ("cell_type", "cell type"), ("leiden", "Leiden cluster")]
report.umap_grid(
    adata, out / "umap_before_after.png", rows, [("X_umap_uncorrected", "uncorrected"), ("X_umap", "after Harmony")]
)
report.markers_umap(adata, out / "markers.png", ["CD3E", "MS4A1", "CD14", "FCGR3A", "NKG7", "ISG15"])
adata.write_h5ad(out / "ifnb_harmony.h5ad", compression="gzip")
print(f"wrote {out}/")
