"""The examples run as users run them, from a scratch folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import needs_data, needs_r

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
pytestmark = pytest.mark.slow


def _run(script: str, cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_quickstart(tmp_path):
    out = _run("quickstart.py", tmp_path)
    assert "(700, 50)" in out
    assert (tmp_path / "out" / "quickstart_umap.png").stat().st_size > 10_000


@needs_data("ifnb_2800_counts.h5ad")
def test_ifnb_workflow(tmp_path):
    out = _run("ifnb_workflow.py", tmp_path)
    assert "median stim LISI" in out
    assert {"umap_before_after.png", "markers.png", "ifnb_harmony.h5ad"} <= {
        p.name for p in (tmp_path / "out" / "ifnb").iterdir()
    }


@needs_data("ifnb_2800_counts.h5ad")
@needs_r("Seurat")
def test_seurat_session_example(tmp_path):
    out = _run("seurat_session.py", tmp_path)
    assert "Seurat clusters vs the annotated cell types: ARI" in out and "SCT assay: 2800 cells" in out
    assert {"ifnb_seurat.h5ad", "ifnb_sct.h5ad", "markers.csv"} <= {
        p.name for p in (tmp_path / "out" / "seurat_session").iterdir()
    }


@needs_data("symphony_pbmcs_1200_counts.h5ad")
@needs_r("Seurat")
def test_label_transfer_example(tmp_path):
    out = _run("label_transfer.py", tmp_path)
    assert "reference: 770 cells" in out and "accuracy" in out and "Seurat and scanpy agree on" in out
