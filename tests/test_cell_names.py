"""Repeated cell names are refused before any work or output, with the fix in the caller's terms;
errors name cells by name and speak the caller's language (Python, the command line)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from helpers import synthetic

import harmonybridge as hb
from harmonybridge.cli import main


def with_repeats(adata):
    """c0..c299 with c1 twice and c7 three times (cells 2, 8 and 9 renamed)."""
    names = list(adata.obs_names)
    names[2], names[8], names[9] = "c1", "c7", "c7"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # anndata's own warning about repeats
        adata.obs_names = names
    return adata


@pytest.fixture
def dup_h5ad(tmp_path):
    path = tmp_path / "dup.h5ad"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with_repeats(synthetic(n_genes=20)).write_h5ad(path)
    return path


def test_run_harmony_refuses_repeated_cells_and_names_them():
    adata = with_repeats(synthetic())
    names = list(adata.obs_names)
    with pytest.raises(
        ValueError,
        match=r"2 cell name\(s\) occur more than once in adata.obs_names \('c1' x2, 'c7' x3\)"
        r".*adata.obs_names_make_unique\(\)",
    ):
        hb.run_harmony(adata, "batch")
    assert "X_pca_harmony" not in adata.obsm and "harmony" not in adata.uns
    assert list(adata.obs_names) == names


def test_read_make_unique(dup_h5ad):
    adata = hb.read(dup_h5ad, make_unique=True)
    assert adata.obs_names.is_unique
    assert list(adata.obs_names[[1, 2, 7, 8, 9]]) == ["c1", "c1-1", "c7", "c7-1", "c7-2"]
    kept = hb.read(dup_h5ad)  # without it the names are kept as they are
    assert not kept.obs_names.is_unique


@pytest.mark.parametrize(
    "args",
    [
        ["run", "{dup}", "--batch", "batch", "--out", "{tmp}/out.h5ad"],
        ["demo", "--input", "{dup}", "--batch", "batch", "--rds", "--out", "{tmp}/demo"],
        ["check", "{dup}", "--batch", "batch", "--report", "{tmp}/report"],
    ],
    ids=["run", "demo", "check"],
)
def test_cli_refuses_repeated_cells_before_any_output(dup_h5ad, tmp_path, capsys, args):
    assert main([a.format(dup=dup_h5ad, tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err
    assert f"2 cell name(s) occur more than once in {dup_h5ad} ('c1' x2, 'c7' x3)" in err
    assert "rerun with --make-unique" in err and "adata." not in err
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != dup_h5ad]
    assert written == []


def test_cli_make_unique(dup_h5ad, tmp_path):
    out = tmp_path / "out.h5ad"
    assert main(["-q", "run", str(dup_h5ad), "--batch", "batch", "--out", str(out), "--make-unique"]) == 0
    adata = hb.read(out)
    assert adata.obs_names.is_unique and adata.obs_names[2] == "c1-1"
    expected = synthetic(n_genes=20)
    hb.run_harmony(expected, "batch")
    np.testing.assert_array_equal(adata.obsm["X_pca_harmony"], expected.obsm["X_pca_harmony"])


def test_python_errors_name_cells():
    adata = synthetic()
    adata.obs["batch"] = adata.obs["batch"].astype(object)
    adata.obs.loc[["c4", "c9"], "batch"] = None
    with pytest.raises(
        ValueError,
        match=r"adata.obs\['batch'\] has 2 cells with missing labels \(first: 'c4', 'c9'\)"
        r".*adata\[adata.obs\['batch'\].notna\(\)\]",
    ):
        hb.run_harmony(adata, "batch")
    adata = synthetic()
    adata.obsm["X_pca"][[5, 11, 12, 13]] = np.nan
    with pytest.raises(
        ValueError, match=r"adata.obsm\['X_pca'\] has NaN or inf in 4 cells \(first: 'c5', 'c11', 'c12' and 1 more\)"
    ):
        hb.run_harmony(adata, "batch")


def test_cli_errors_speak_flags(tmp_path, capsys):
    adata = synthetic()
    adata.obs["batch"] = pd.Categorical(["one"] * adata.n_obs)
    src = tmp_path / "one.h5ad"
    hb.write(adata, src)
    assert main(["run", str(src), "--batch", "batch"]) == 2
    err = capsys.readouterr().err
    assert f"column 'batch' of {src} has one batch only ('one')" in err
    adata = synthetic()
    adata.obsm["X_pca"][3] = np.inf
    hb.write(adata, src)
    assert main(["run", str(src), "--batch", "batch"]) == 2
    err = capsys.readouterr().err
    assert f"obsm['X_pca'] of {src} (--basis X_pca) has NaN or inf in 1 cells (first: 'c3')" in err
    assert "adata" not in err
