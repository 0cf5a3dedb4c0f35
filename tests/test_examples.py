"""The examples run as users run them, from a scratch folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import needs_data

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
