"""The workflow end to end: from counts (symphony PBMCs, three chemistries) and the demo."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import DATA, needs_data
from sklearn.metrics import adjusted_rand_score, silhouette_score

import harmonybridge as hb
from harmonybridge import _workflow as wf
from harmonybridge.cli import main

pytestmark = pytest.mark.slow


@needs_data("symphony_pbmcs_1200_counts.h5ad")
def test_from_counts_mixes_batches_and_keeps_cell_types():
    raw = hb.read(DATA / "symphony_pbmcs_1200_counts.h5ad")
    before_obs = raw.obs.copy()
    adata = wf.preprocess(raw, "donor", min_genes=50)
    assert raw.obs.equals(before_obs) and "X_pca" not in raw.obsm  # input untouched
    assert "counts" in adata.layers and adata.raw is not None
    assert adata.var["highly_variable"].sum() > 0
    res = wf.integrate_and_cluster(adata, "donor")
    ct = adata.obs["cell_type"]
    # batches mix: median batch LISI rises clearly (3 chemistries: 1 = unmixed, 3 = fully mixed)
    assert res.lisi_before < 1.3
    assert res.lisi_after > res.lisi_before + 0.6
    # cell types stay apart: cell-type LISI stays near 1, silhouette does not drop, clusters follow labels
    assert wf.median_lisi(adata.obsm["X_pca_harmony"], ct) < 1.2
    assert silhouette_score(adata.obsm["X_pca_harmony"], ct) >= 0.9 * silhouette_score(adata.obsm["X_pca"], ct)
    assert adjusted_rand_score(ct, adata.obs["leiden"]) > 0.4
    assert "rank_genes_groups" in adata.uns
    assert adata.obsm["X_umap"].shape == (adata.n_obs, 2)
    assert adata.obsm["X_umap_uncorrected"].shape == (adata.n_obs, 2)


def test_preprocess_refuses_normalized_data():
    adata = wf.load_pbmc68k()  # X is scaled, not counts
    with pytest.raises(ValueError, match=r"adata.X does not hold raw counts"):
        wf.preprocess(adata, "channel")


def test_demo_writes_figures_and_file(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cells: 700" in printed and "median batch LISI (channel)" in printed
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "pbmc68k_reduced_harmony.h5ad",
            "pbmc68k_reduced_harmony_umap.png",
            "pbmc68k_reduced_markers_umap.png",
            "pbmc68k_reduced_markers_dotplot.png",
            "pbmc68k_reduced_convergence.png",
        ]
    )
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 10_000
    adata = hb.read(out / "pbmc68k_reduced_harmony.h5ad")
    assert {"X_pca_harmony", "X_umap", "X_umap_uncorrected"} <= set(adata.obsm)
    assert adata.obs["leiden"].nunique() > 3
    lisi = adata.uns["harmonybridge_lisi"]
    assert np.isfinite(lisi["median_before"]) and np.isfinite(lisi["median_after"])


@needs_data("ifnb_2800_counts.h5ad")
def test_demo_from_counts_input(tmp_path, capsys):
    out = tmp_path / "ifnb"
    assert (
        main(["-q", "demo", "--input", str(DATA / "ifnb_2800_counts.h5ad"), "--batch", "stim", "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "median batch LISI (stim)" in printed
    found = re.search(r"median batch LISI \(stim\): ([\d.]+) before -> ([\d.]+) after", printed)
    before, after = float(found[1]), float(found[2])
    assert after > before
    assert (out / "ifnb_2800_counts_harmony_umap.png").exists()


def test_demo_input_needs_batch(tmp_path, capsys):
    assert main(["demo", "--input", str(tmp_path / "x.h5ad"), "--out", str(tmp_path)]) == 2
    assert "--input needs --batch KEY" in capsys.readouterr().err
