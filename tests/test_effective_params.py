"""What each engine really ran: R harmony sets block_size to 0.2 below 40 cells (harmony.cpp, setup),
silently; the record, the cross-check's text, JSON and HTML say so (issue 19)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import needs_r, synthetic

import harmonybridge as hb
from harmonybridge import HarmonyBridgeWarning

pytestmark = needs_r("harmony")


def test_r_record_holds_the_block_size_r_ran():
    small, large = synthetic(n_cells=36, n_batches=2), synthetic(n_cells=60, n_batches=2)
    for adata in (small, large):
        hb.run_harmony(adata, "batch", backend="r")
    rec = small.uns["harmony"]
    assert rec["params"]["block_size"] == 0.2
    assert (
        rec["overrides"]["block_size"]["asked"] == 0.05
        and "fewer than 40 cells" in rec["overrides"]["block_size"]["why"]
    )
    assert large.uns["harmony"]["params"]["block_size"] == 0.05 and large.uns["harmony"]["overrides"] == {}
    hb.run_harmony(small, "batch", backend="python", key_added="X_py")
    assert small.uns["harmony"]["params"]["block_size"] == 0.05  # harmonypy runs what it is given


def test_crosscheck_reports_what_each_engine_ran(tmp_path):
    adata = synthetic(n_cells=36, n_batches=2)
    with pytest.warns(HarmonyBridgeWarning) as caught:
        report = hb.cross_check(adata, "batch", n_seeds=2, figures=False)
    said = [str(w.message) for w in caught if "block_size" in str(w.message)]
    assert len(said) == 1 and "R (harmony) ran block_size=0.2, not 0.05" in said[0]  # once, not once per seed
    assert report.params["r"]["block_size"] == 0.2 and report.params["python"]["block_size"] == 0.05
    text = str(report)
    assert "every engine ran the same parameters" not in text
    assert "r engine changed block_size 0.05 -> 0.2 itself" in text
    assert "parameters that differ: block_size 0.05 vs 0.2" in text
    data = json.loads(report.to_json())
    assert data["meta"]["engine_overrides"]["r"]["block_size"]["ran"] == 0.2
    assert data["parameter_differences"]["python vs r"] == {"block_size": [0.05, 0.2]}
    assert any("block_size=0.2" in w for w in data["warnings"])
    page = report.to_html()
    assert "every engine ran the same parameters" not in page and "block_size 0.05 -&gt; 0.2 itself" in page
    np.testing.assert_array_equal(adata.obs_names, synthetic(n_cells=36, n_batches=2).obs_names)
