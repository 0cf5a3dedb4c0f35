"""The command line with R: --backend r/both, and Seurat .rds files in and out."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import needs_r, synthetic

import harmonybridge as hb
from harmonybridge import _rbridge
from harmonybridge.cli import main

pytestmark = needs_r("harmony")


@pytest.fixture
def small_h5ad(tmp_path):
    path = tmp_path / "small.h5ad"
    hb.write(synthetic(n_genes=20), path)
    return path


def test_run_backend_both_stores_both(small_h5ad, tmp_path, capsys):
    out = tmp_path / "both.h5ad"
    assert main(["-q", "run", str(small_h5ad), "--batch", "batch", "--backend", "both", "--out", str(out)]) == 0
    adata = hb.read(out)
    assert {"X_pca_harmony_py", "X_pca_harmony_r"} <= set(adata.obsm)
    assert adata.uns["harmony_py"]["backend"] == "python" and adata.uns["harmony_r"]["backend"] == "r"
    py = synthetic()
    hb.run_harmony(py, "batch")
    np.testing.assert_array_equal(adata.obsm["X_pca_harmony_py"], py.obsm["X_pca_harmony"])
    r = synthetic()
    hb.run_harmony(r, "batch", backend="r")
    np.testing.assert_array_equal(adata.obsm["X_pca_harmony_r"], r.obsm["X_pca_harmony"])
    printed = capsys.readouterr().out
    assert "python: obsm['X_pca_harmony_py']" in printed and "r: obsm['X_pca_harmony_r']" in printed


@pytest.mark.parametrize("backend", ["python", "r"])
def test_seurat_rds_in_and_out_gets_a_harmony_reduction(small_h5ad, tmp_path, backend):
    rds = tmp_path / "small.rds"
    assert main(["-q", "convert", str(small_h5ad), str(rds)]) == 0
    out = tmp_path / "small.harmony.rds"
    assert main(["-q", "run", str(rds), "--batch", "batch", "--backend", backend]) == 0
    ro = _rbridge.robjects()
    obj = ro.r["readRDS"](str(out))
    assert "harmony" in list(ro.r("SeuratObject::Reductions")(obj))
    red = ro.r("`[[`")(obj, "harmony")
    assert list(ro.r("SeuratObject::Key")(red)) == ["harmony_"]
    emb = np.asarray(ro.r("SeuratObject::Embeddings")(red))
    expected = synthetic()
    hb.run_harmony(expected, "batch", backend=backend)
    np.testing.assert_array_equal(emb, expected.obsm["X_pca_harmony"])
    np.testing.assert_allclose(np.asarray(ro.r("SeuratObject::Stdev")(red)), emb.std(axis=0, ddof=1))


def test_h5ad_to_rds_and_back_through_run(small_h5ad, tmp_path):
    rds = tmp_path / "o.rds"
    assert main(["-q", "run", str(small_h5ad), "--batch", "batch", "--out", str(rds)]) == 0
    back = hb.read(rds)
    expected = synthetic()
    hb.run_harmony(expected, "batch")
    np.testing.assert_allclose(back.obsm["X_pca_harmony"], expected.obsm["X_pca_harmony"])
    assert back.uns["harmony"]["engine"] == "harmonypy"


def test_seurat_rds_backend_both_keeps_both_records(small_h5ad, tmp_path):
    import json

    rds = tmp_path / "small.rds"
    assert main(["-q", "convert", str(small_h5ad), str(rds)]) == 0
    out = tmp_path / "both.rds"
    assert main(["-q", "run", str(rds), "--batch", "batch", "--backend", "both", "--out", str(out)]) == 0
    ro = _rbridge.robjects()
    obj = ro.r["readRDS"](str(out))
    assert {"harmony_py", "harmony_r"} <= set(ro.r("SeuratObject::Reductions")(obj))
    for slot, engine in (("harmony_py", "harmonypy"), ("harmony_r", "R harmony")):
        assert json.loads(ro.r("SeuratObject::Misc")(obj, slot)[0])["engine"] == engine
