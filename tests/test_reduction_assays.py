"""Reductions are the object's: an SCT-default object whose PCA was computed on RNA gives X_pca.

Seurat keeps reductions on the object (``RunHarmony(obj, ...)`` finds the PCA whatever the
default assay) and records the assay each was computed on. ``read_rds`` returns the default
assay's view; it now carries every reduction in ``obsm`` (the assay in
``uns['seurat']['reduction_assays']``), run_harmony and cross_check work on it, and the round trip
back to Seurat keeps the reduction's ``assay.used``, embeddings, loadings and stdev identical.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import R_SCRIPTS, needs_r, rscript

import harmonybridge as hb
from harmonybridge import ConversionWarning, HarmonyBridgeWarning

pytestmark = needs_r("harmony")
SCRIPT = str(R_SCRIPTS / "sct_pca_on_rna.R")


@pytest.fixture(scope="module")
def pca_on_rna(seurat_objects, tmp_path_factory):
    path = tmp_path_factory.mktemp("homes") / "sct_pca_rna.rds"
    rscript(SCRIPT, str(seurat_objects / "sct.rds"), str(path))
    return path


def test_read_rds_carries_a_reduction_of_another_assay(pca_on_rna, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        adata, log = hb.read_rds(pca_on_rna, return_log=True)
    assert adata.uns["seurat"]["assay"] == "SCT"
    assert "X_pca" in adata.obsm and adata.obsm["X_pca"].shape == (adata.n_obs, 10)
    assert adata.uns["seurat"]["reduction_assays"]["X_pca"] == "RNA"
    assert "X_pca" not in adata.uns["seurat"]["assays"]["RNA"]["obsm"]  # one home, no copy
    assert any(e.where == "Reductions(X_pca)" for e in log.entries)

    hb.run_harmony(adata, "donor")
    assert adata.obsm["X_pca_harmony"].shape == adata.obsm["X_pca"].shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HarmonyBridgeWarning)  # 600 cells: the seed spread is wide, as it says
        report = hb.cross_check(adata, "donor", n_seeds=2, figures=False)
    assert report is not None

    # back to Seurat, through an .h5ad: the PCA is on RNA again, identical
    del adata.obsm["X_pca_harmony"], adata.uns["harmony"]
    h5ad, back = tmp_path / "x.h5ad", tmp_path / "back.rds"
    hb.write(adata, h5ad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        hb.write_rds(hb.read(h5ad), back)
    rscript(SCRIPT, "--check", str(pca_on_rna), str(back))


def test_lift_keeps_the_views_own_reduction():
    from anndata import AnnData

    from harmonybridge.convert._homes import lift_reductions

    adata = AnnData(np.zeros((3, 2)))
    adata.obsm["X_pca"] = np.ones((3, 2))
    seurat = {"assays": {"RNA": {"obsm": {"X_pca": np.zeros((3, 2)), "X_apca": np.zeros((3, 4))}}}}
    log = hb.ConversionLog("t")
    lift_reductions(adata, seurat, log)
    assert seurat["reduction_assays"] == {"X_apca": "RNA"}
    assert list(seurat["assays"]["RNA"]["obsm"]) == ["X_pca"]
    np.testing.assert_array_equal(adata.obsm["X_pca"], 1)
