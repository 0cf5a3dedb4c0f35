"""Repeated cell names in a real Seurat object (.rds and .RData, built by Seurat in R): the same rule
as for an .h5ad on every command: refused with exit 2 and one line naming --make-unique, or
suffixed -1, -2, ... with --make-unique."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import R_SCRIPTS, needs_r, rscript

import harmonybridge as hb

pytestmark = needs_r("Seurat")
EXE = [sys.executable, "-m", "harmonybridge.cli"]


@pytest.fixture(scope="module")
def dup_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dup")
    rscript(str(R_SCRIPTS / "duplicate_cells.R"), str(folder))
    if (folder / "unsupported").exists():
        pytest.skip((folder / "unsupported").read_text().strip())
    return folder


def cli(*args):
    return subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True, check=False, timeout=600)


@pytest.mark.parametrize("name", ["dup.rds", "dup.RData"])
def test_convert_refuses_repeated_cells_then_make_unique(dup_dir, tmp_path, name):
    out = tmp_path / "out.h5ad"
    proc = cli("convert", dup_dir / name, out)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("harmonybridge")]  # (rpy2's notes: test_noise)
    assert len(lines) == 1 and proc.stderr.rstrip().endswith(lines[0]), proc.stderr
    assert lines[0].startswith("harmonybridge: error: 22 cell name(s) occur more than once in ")
    assert "('c1' x2, 'c2' x2" in lines[0] and "rerun with --make-unique" in lines[0]
    assert list(tmp_path.iterdir()) == []

    proc = cli("convert", dup_dir / name, out, "--make-unique")
    assert proc.returncode == 0, proc.stderr
    assert "22 repeated" in proc.stdout
    adata = hb.read(out)
    assert adata.obs_names.is_unique and adata.n_obs == 200
    assert list(adata.obs_names[[0, 100, 121, 122]]) == ["c1", "c1-1", "c22-1", "c123"]


def test_read_rds_make_unique(dup_dir):
    assert not hb.read_rds(dup_dir / "dup.rds").obs_names.is_unique  # kept, as hb.read keeps them
    adata = hb.read_rds(dup_dir / "dup.rds", make_unique=True)
    assert adata.obs_names.is_unique and adata.obs_names[100] == "c1-1"
    assert hb.read(dup_dir / "dup.RData", make_unique=True).obs_names.equals(adata.obs_names)


def test_run_rds_to_rds_refuses_then_renames_in_r(dup_dir, tmp_path):
    out = tmp_path / "out.rds"
    proc = cli("run", dup_dir / "dup_pca.rds", "--batch", "batch", "--out", out)
    assert proc.returncode == 2 and "rerun with --make-unique" in proc.stderr
    assert not out.exists()
    proc = cli("run", dup_dir / "dup_pca.rds", "--batch", "batch", "--out", out, "--make-unique")
    assert proc.returncode == 0, proc.stderr
    with pytest.warns(hb.ConversionWarning, match="harmony"):  # its loadings have no place in an AnnData
        adata = hb.read_rds(out)
    assert adata.obs_names.is_unique and adata.obs_names[100] == "c1-1"
    assert adata.obsm["X_pca_harmony"].shape == (200, 5)
