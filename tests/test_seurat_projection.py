"""Objects convert writes pass R's standard calls with their defaults (RunHarmony, RunHarmonyPy).

scanpy's usual object (log-normalized X, a counts layer, X_pca from a scaled copy, or X scaled in
place) has no scaled data in the AnnData; Seurat's ProjectDim, which RunHarmony and RunHarmonyPy
run by default, multiplies scale.data by the embedding and stopped with "non-conformable
arguments" on the empty one. to_seurat now adds what ScaleData makes over the PCA's features
(checked against Seurat's ScaleData in tests/r/run_harmony_defaults.R), and from_seurat leaves it
out again.
"""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
from helpers import DATA, R_SCRIPTS, SEURAT_COUNTS, needs_data, needs_r, rscript, synthetic

import harmonybridge as hb
from harmonybridge.cli import main
from harmonybridge.convert._scale import projection_features, scale_like_seurat

pytestmark = needs_r("harmony")


def _scanpy_object(in_place: bool) -> ad.AnnData:
    import scanpy as sc

    adata = ad.read_h5ad(DATA / SEURAT_COUNTS)
    adata.obs["batch"] = adata.obs["donor"].astype("category")
    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    sc.pp.highly_variable_genes(adata, n_top_genes=500)
    if in_place:
        sc.pp.scale(adata, max_value=10)
        sc.pp.pca(adata, n_comps=20)
        return adata
    scaled = adata.copy()
    sc.pp.scale(scaled, max_value=10)
    sc.pp.pca(scaled, n_comps=20)
    adata.obsm["X_pca"], adata.varm["PCs"] = scaled.obsm["X_pca"], scaled.varm["PCs"]
    adata.uns["pca"] = scaled.uns["pca"]
    return adata


@needs_data(SEURAT_COUNTS)
def test_runharmony_defaults_on_converted_scanpy_objects(tmp_path):
    """Log-normalized X with the PCA from a scaled copy, and X scaled in place: both pass, in one R session."""
    outs = []
    for in_place in (False, True):
        src, out = tmp_path / f"x{in_place:d}.h5ad", tmp_path / f"y{in_place:d}.rds"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _scanpy_object(in_place).write_h5ad(src)
        assert main(["-q", "convert", str(src), str(out)]) == 0
        outs.append(str(out))
    rscript(str(R_SCRIPTS / "run_harmony_defaults.R"), *outs)


def test_round_trip_leaves_the_added_scale_data_out():
    adata = synthetic(n_cells=60, n_genes=30)
    adata.var["highly_variable"] = np.arange(30) % 3 == 0
    obj, log = hb.to_seurat(adata, return_log=True)
    assert [e.where for e in log.of("added")] == ["scale.data"]
    back = hb.from_seurat(obj)
    assert "scale.data" not in back.layers and "seurat" not in back.uns


def test_scale_like_seurat_and_features():
    rng = np.random.default_rng(0)
    X = rng.poisson(2, (300, 8)).astype(float)
    X[:, 3] = 1.0  # constant: 0, as ScaleData gives
    X[0, 5] = 1e3  # clipped at 10
    out = scale_like_seurat(X, np.array([1, 3, 5]))
    assert out.shape == (300, 3) and np.all(out[:, 1] == 0) and out[0, 2] == 10
    expected = (X[:, 1] - X[:, 1].mean()) / X[:, 1].std(ddof=1)
    np.testing.assert_allclose(out[:, 0], np.minimum(expected, 10))
    adata = ad.AnnData(X)
    adata.varm["PCs"] = np.zeros((8, 2))
    adata.varm["PCs"][[2, 6]] = 1
    np.testing.assert_array_equal(projection_features(adata), [2, 6])
