"""What the command and the API say, and only once (issue 19, item 8): no rpy2 start-up notes before
the one-line error, one warning per cause, fixes in the caller's language (R for Seurat objects, flags
for the command), the continuous-batch warning on the .rds path too, a warning when Harmony did not
converge, and a symbolic link written through, not replaced."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import needs_r, rscript, synthetic

import harmonybridge as hb
from harmonybridge import HarmonyBridgeWarning
from harmonybridge.cli import main

EXE = [sys.executable, "-m", "harmonybridge.cli"]


def tiny_batch(n_cells: int = 300, n_genes: int = 0):
    adata = synthetic(n_cells=n_cells, n_genes=n_genes)
    labels = adata.obs["batch"].astype(str).to_numpy()
    labels[:5] = "tiny"
    adata.obs["batch"] = pd.Categorical(labels)
    return adata


@needs_r("SeuratObject")
def test_error_is_the_only_line_on_stderr(tmp_path):
    src = tmp_path / "numbers.rds"
    rscript("-e", f"saveRDS(1:3, '{src}')")
    proc = subprocess.run([*EXE, "convert", str(src), str(tmp_path / "x.h5ad")], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harmonybridge: error: "), proc.stderr  # no "cffi mode ..."
    assert "not a Seurat object" in lines[0]


@needs_r("harmony")
def test_check_says_each_cause_once_in_the_command_s_terms(tmp_path, capsys):
    src = tmp_path / "tiny.h5ad"
    hb.write(tiny_batch(), src)
    rc = main(["-q", "check", str(src), "--batch", "batch", "--seeds", "2", "--report", str(tmp_path / "rep")])
    assert rc in (0, 1)
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if "fewer than 10 cells" in ln]
    assert len(warnings) == 1, warnings  # was 5: once per engine run
    assert "drop the cells of batch 'tiny' from the input file" in warnings[0] and "adata" not in warnings[0]


@needs_r("harmony")
def test_api_cross_check_warns_once_per_cause_and_each_call_again():
    for _ in range(2):  # two calls, two causes said: the memory is per call, not per process
        with pytest.warns(HarmonyBridgeWarning) as caught:
            hb.cross_check(tiny_batch(), "batch", n_seeds=2, figures=False)
        assert sum("fewer than 10 cells" in str(w.message) for w in caught) == 1  # was 4, once per engine run


@needs_r("harmony")
def test_seurat_objects_get_r_fixes_and_the_continuous_warning():
    obj = hb.to_seurat(tiny_batch(n_genes=20))
    with pytest.warns(HarmonyBridgeWarning, match=r"meta.data column 'batch' \(obj\$batch\) has 1 batch") as caught:
        hb.run_harmony(obj, "batch")
    text = " ".join(str(w.message) for w in caught)
    assert "obj <- subset(obj, cells = colnames(obj)[obj$batch != 'tiny'])" in text and "adata" not in text
    adata = synthetic(n_genes=20)
    adata.obs["batch"] = np.arange(adata.n_obs) % 100  # a number per 3 cells: looks continuous
    obj = hb.to_seurat(adata)
    with pytest.warns(HarmonyBridgeWarning) as caught:  # (100 tiny batches: it may not converge either)
        hb.run_harmony(obj, "batch")
    said = [str(w.message) for w in caught if "is numeric" in str(w.message)]
    assert len(said) == 1 and "meta.data column 'batch' (obj$batch) is numeric with 100 distinct values" in said[0]
    assert "obj$batch <- factor(obj$batch)" in said[0]


def test_not_converged_is_a_warning(tmp_path, capsys):
    src, out = tmp_path / "in.h5ad", tmp_path / "out.h5ad"
    hb.write(synthetic(), src)
    assert main(["-q", "run", str(src), "--batch", "batch", "--theta", "1e9", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "converged=False" in captured.out
    assert "harmonybridge: warning: Harmony (harmonypy) did not converge: it ran all 10 iterations" in captured.err
    assert "raise --max-iter" in captured.err
    with pytest.warns(HarmonyBridgeWarning, match=r"did not converge.*raise max_iter"):
        hb.run_harmony(synthetic(), "batch", theta=1e9)
    adata = synthetic()
    hb.run_harmony(adata, "batch")  # a run that converges says nothing (warnings are errors here)
    assert adata.uns["harmony"]["converged"]


def test_symlinked_output_is_written_through(tmp_path, caplog):
    runs = tmp_path / "runs"
    runs.mkdir()
    target, link = runs / "r1.h5ad", tmp_path / "latest.h5ad"
    hb.write(synthetic(n_cells=50), target)
    link.symlink_to("runs/r1.h5ad")
    src = tmp_path / "in.h5ad"
    hb.write(synthetic(), src)
    with caplog.at_level("INFO", logger="harmonybridge"):
        assert main(["run", str(src), "--batch", "batch", "--out", str(link)]) == 0
    assert link.is_symlink() and link.readlink().as_posix() == "runs/r1.h5ad"
    assert hb.read(target).n_obs == 300 and "X_pca_harmony" in hb.read(target).obsm
    assert f"{link} is a symbolic link: writing its target {target}" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.h5ad", "latest.h5ad", "runs"]
