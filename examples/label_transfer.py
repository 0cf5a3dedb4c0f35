"""Label transfer across ecosystems: 3' PBMCs label 5' PBMCs, with Seurat and with scanpy.

    python examples/label_transfer.py        # on ../shared/data/symphony_pbmcs_1200_counts.h5ad

Reference: the two 3' chemistries (3pv1, 3pv2); query: the 5' cells. Seurat runs
FindTransferAnchors + TransferData, scanpy runs ingest; each writes its prediction and a
confidence into the query's obs under its own name, so the two sit side by side.
"""

import sys
from pathlib import Path

import anndata as ad
import pandas as pd

import harmonybridge as hb

data = Path(__file__).resolve().parents[2] / "shared" / "data" / "symphony_pbmcs_1200_counts.h5ad"
if len(sys.argv) > 1:
    data = Path(sys.argv[1])
cells = ad.read_h5ad(data)
reference = cells[cells.obs["donor"].isin(["3pv1", "3pv2"])].copy()
query = cells[cells.obs["donor"] == "5p"].copy()
print(f"reference: {reference.n_obs} cells (3pv1, 3pv2); query: {query.n_obs} cells (5p)")

rows = []
for backend in ("seurat", "scanpy"):
    hb.transfer_labels(reference, query, "cell_type", backend=backend)
    key = f"{backend}_cell_type"
    right = query.obs[key].astype(str) == query.obs["cell_type"].astype(str)
    per_type = right.groupby(query.obs["cell_type"], observed=True).mean()
    rows.append(
        {
            "backend": backend,
            "accuracy": right.mean(),
            "median score": query.obs[f"{key}_score"].median(),
            **{f"acc {t}": v for t, v in per_type.items()},
        }
    )
table = pd.DataFrame(rows).set_index("backend")
print(table.T.round(3).to_string())
both = (query.obs["seurat_cell_type"].astype(str) == query.obs["scanpy_cell_type"].astype(str)).mean()
print(f"Seurat and scanpy agree on {both:.1%} of the query cells")
print(pd.crosstab(query.obs["cell_type"], query.obs["seurat_cell_type"]))
