"""Test helpers: data location, skip marks evaluated at collection (with a reason), synthetic data."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# Every skip for a missing R piece or missing shared data starts with one of these (conftest.py's
# strict mode turns them into failures under CI).
R_MISSING = "needs R"
DATA_MISSING = "shared data not found"


@functools.cache
def r_missing(package: str = "SeuratObject") -> str | None:
    """Why R tests cannot run here, or None."""
    from harmonybridge import _rbridge

    try:
        _rbridge.require(package)
    except _rbridge.RBridgeError as err:
        return str(err)
    return None


def needs_r(package: str = "SeuratObject") -> pytest.MarkDecorator:
    reason = r_missing(package)
    return pytest.mark.skipif(reason is not None, reason=f"{R_MISSING} package {package!r}: {reason}")


def needs_data(*names: str) -> pytest.MarkDecorator:
    absent = [n for n in names if not (DATA / n).exists()]
    return pytest.mark.skipif(bool(absent), reason=f"{DATA_MISSING}: {absent} (expected in {DATA})")


def load_pcs(name: str) -> AnnData:
    """A ``*_pcs.tsv.gz`` + ``*_meta.tsv.gz`` pair from shared/data as an AnnData with X_pca."""
    pcs = pd.read_csv(DATA / f"{name}_pcs.tsv.gz", sep="\t")
    meta = pd.read_csv(DATA / f"{name}_meta.tsv.gz", sep="\t")
    name_col = next((c for c in ("cell", "cell_id") if c in meta.columns), None)
    meta.index = meta[name_col].astype(str).to_numpy() if name_col else [f"cell{i}" for i in range(len(meta))]
    if not meta.index.is_unique:
        meta.index = [f"{c}_{i}" for i, c in enumerate(meta.index)]
    for col in meta.columns:
        if meta[col].dtype == object:
            meta[col] = meta[col].astype("category")
    adata = AnnData(obs=meta)
    adata.obsm["X_pca"] = pcs.select_dtypes("number").to_numpy()
    return adata


def synthetic(n_cells: int = 300, n_pcs: int = 10, n_batches: int = 3, seed: int = 0, n_genes: int = 0) -> AnnData:
    """Seeded cells in three types with a shift per batch, as a PCA embedding."""
    rng = np.random.default_rng(seed)
    batch = rng.integers(0, n_batches, n_cells)
    cell_type = rng.integers(0, 3, n_cells)
    centers = rng.normal(0, 5, (3, n_pcs))
    shifts = rng.normal(0, 2, (n_batches, n_pcs))
    Z = centers[cell_type] + shifts[batch] + rng.normal(0, 1, (n_cells, n_pcs))
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical([f"b{b}" for b in batch]),
            "cell_type": pd.Categorical([f"t{t}" for t in cell_type]),
        },
        index=[f"c{i}" for i in range(n_cells)],
    )
    adata = AnnData(obs=obs)
    if n_genes:  # sparse counts, for paths that need genes (a Seurat object does)
        import scipy.sparse as sp

        counts = sp.random(n_cells, n_genes, density=0.2, format="csr", random_state=seed, dtype=np.float32)
        counts.data = np.ceil(counts.data * 10)
        adata = AnnData(counts, obs=obs, var=pd.DataFrame(index=[f"gene{i}" for i in range(n_genes)]))
    adata.obsm["X_pca"] = Z.astype(np.float32)
    return adata
