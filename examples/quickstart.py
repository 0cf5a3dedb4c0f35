"""The scanpy quick start with Harmony, fixed for harmonypy >= 2: only the import changes.

    python examples/quickstart.py            # writes out/quickstart_umap.png

`sc.external.pp.harmony_integrate` fails with harmonypy 2.x ("Value passed for key
'X_pca_harmony' is of incorrect shape"); `harmonybridge.harmony_integrate` takes the same
arguments and stores cells x PCs.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import scanpy as sc

import harmonybridge as hb

adata = sc.datasets.pbmc68k_reduced()  # 700 PBMCs, PCA already computed
adata.obs["channel"] = adata.obs_names.str.rsplit("-", n=1).str[-1].astype("category")  # 10x channel = batch

hb.harmony_integrate(adata, "channel")  # was: sc.external.pp.harmony_integrate(adata, "channel")
print(adata.obsm["X_pca_harmony"].shape, "iterations:", adata.uns["harmony"]["n_iter"])

sc.pp.neighbors(adata, use_rep="X_pca_harmony")
sc.tl.umap(adata)
sc.tl.leiden(adata, flavor="igraph", n_iterations=2, directed=False)
Path("out").mkdir(exist_ok=True)
fig = sc.pl.umap(adata, color=["channel", "leiden", "bulk_labels"], show=False, return_fig=True)
fig.savefig("out/quickstart_umap.png", bbox_inches="tight")
print("wrote out/quickstart_umap.png")
