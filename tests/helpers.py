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


# --- real Seurat objects, built by Seurat itself (tests/r/build_seurat_objects.R) ---------------
R_SCRIPTS = Path(__file__).parent / "r"
SEURAT_COUNTS = "symphony_pbmcs_1200_counts.h5ad"


def write_counts_dir(adata: AnnData, folder: Path) -> Path:
    """Counts (genes x cells .mtx), genes.txt, cells.txt and meta.tsv, as the R scripts read them."""
    import scipy.io
    import scipy.sparse as sp

    folder.mkdir(parents=True, exist_ok=True)
    X = sp.csr_matrix(adata.X)
    scipy.io.mmwrite(folder / "counts.mtx", X.T.tocoo().astype(np.int64), field="integer")
    (folder / "genes.txt").write_text("\n".join(adata.var_names) + "\n")
    (folder / "cells.txt").write_text("\n".join(adata.obs_names) + "\n")
    adata.obs.to_csv(folder / "meta.tsv", sep="\t")
    return folder


def rscript(*args: str, timeout: float = 900) -> None:
    """Run an R script in its own Rscript process; fail with what R printed."""
    import shutil
    import subprocess

    exe = shutil.which("Rscript")
    assert exe is not None, "Rscript not on PATH"
    proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode:
        pytest.fail(
            f"Rscript {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        )


def build_seurat_objects(cache_root: Path) -> Path:
    """The folder of .rds files build_seurat_objects.R writes, built once per script, data and Seurat version.

    Cached in ``cache_root/seurat-objects-<hash>`` (built beside it, renamed into place when
    complete), so that a second session, or a second test file, reuses it.
    """
    import hashlib
    import os
    import shutil
    import tempfile

    from harmonybridge import _rbridge

    script = R_SCRIPTS / "build_seurat_objects.R"
    data = DATA / SEURAT_COUNTS
    stamp = [script.read_bytes(), str(data.stat().st_size).encode(), _rbridge.r_version().encode()]
    stamp += [_rbridge.package_version(p).encode() for p in ("Seurat", "SeuratObject")]
    key = hashlib.sha256(b"\0".join(stamp)).hexdigest()[:12]
    folder = cache_root / f"seurat-objects-{key}"
    if (folder / "built.txt").exists():
        return folder
    cache_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=cache_root))
    try:
        import anndata as ad

        write_counts_dir(ad.read_h5ad(data), work / "input")
        rscript(str(script), str(work / "input"), str(work))
        if not (folder / "built.txt").exists():  # another session may have finished first
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder
