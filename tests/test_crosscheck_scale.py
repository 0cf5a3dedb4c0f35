"""The cross-check at scale: one neighbour graph per embedding, a seeded sample above a stated size,
and progress on stderr."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from helpers import needs_r, synthetic

import harmonybridge as hb
from harmonybridge.metrics import _neighbors

pytestmark = [needs_r("harmony"), pytest.mark.slow]


@pytest.fixture
def searches(monkeypatch):
    """Every neighbour search made (NeighborGraph.search and scanpy's own), and every graph built from one."""
    import scanpy as sc

    seen = {"search": [], "scanpy": [], "graph": []}
    search, neighbors, graph = _neighbors.NeighborGraph.search.__func__, sc.pp.neighbors, _neighbors.umap_connectivities

    def counting_search(cls, X, k=15):
        seen["search"].append(X.shape[0])
        return search(cls, X, k)

    def counting_neighbors(*args, **kwargs):
        seen["scanpy"].append(args)
        return neighbors(*args, **kwargs)

    def counting_graph(indices, distances):
        seen["graph"].append(indices.shape)
        return graph(indices, distances)

    monkeypatch.setattr(_neighbors.NeighborGraph, "search", classmethod(counting_search))
    monkeypatch.setattr(sc.pp, "neighbors", counting_neighbors)
    monkeypatch.setattr(_neighbors, "umap_connectivities", counting_graph)
    return seen


def test_one_neighbour_search_per_embedding_reused_by_leiden_and_umap(searches):
    adata = synthetic(n_cells=900)
    report = hb.cross_check(adata, "batch", label_key="cell_type", n_seeds=2, figures=True)
    # 2 engines x 2 seeds, and the uncorrected embedding (its clusters vs the labels)
    assert searches["search"] == [900] * 5
    # one graph from each search (itself + 14 others), shared by Leiden and the two UMAPs: scanpy searches nothing
    assert searches["graph"] == [(900, 15)] * 5
    assert searches["scanpy"] == []
    assert report.sampling_note() == "" and report.meta["graph_cells"] == 900
    assert {"umaps"} <= set(report.figure_data) and report.figure_data["umaps"]["python"].shape == (900, 2)


def test_above_max_cells_graphs_run_on_a_seeded_sample_and_the_report_says_so(searches):
    adata = synthetic(n_cells=1200)
    report = hb.cross_check(adata, "batch", label_key="cell_type", n_seeds=2, max_cells=500, figures=True)
    assert searches["search"] == [500] * 5
    assert report.meta["graph_cells"] == 500 and report.meta["n_cells"] == 1200
    note = "neighbour graphs (kNN overlap, Leiden) and UMAPs on a seeded sample of 500 of 1,200 cells"
    assert note in repr(report) and note in report.to_html()
    assert report.figure_data["umaps"]["r"].shape == (500, 2) and len(report.figure_data["batch"]) == 500
    assert report.passed, repr(report)
    # per-PC r uses every cell: the same value as the full run's
    full = hb.cross_check(adata, "batch", n_seeds=2, max_cells=None, figures=False)
    assert report.table.loc["pc_r_min", "between engines"] == full.table.loc["pc_r_min", "between engines"]


def test_check_prints_each_step_with_elapsed_time_on_stderr(tmp_path):
    path = tmp_path / "s.h5ad"
    hb.write(synthetic(n_cells=400), path)
    cmd = [
        sys.executable,
        "-m",
        "harmonybridge.cli",
        "check",
        str(path),
        "--batch",
        "batch",
        "--report",
        str(tmp_path / "rep"),
        "--seeds",
        "2",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    steps = re.findall(r"^cross-check \[ *(\d+\.\d) s\] (.*)$", err, flags=re.M)
    names = [s for _, s in steps]
    for expected in (
        "python engine, seed 0 (1 of 2)",
        "r engine, seed 1 (2 of 2)",
        "neighbour graph 4 of 4",
        "Leiden 1 of 4",
        "agreement metrics",
        "integration metrics",
        "UMAPs for the figures",
        "done: agree",
    ):
        assert any(n.startswith(expected) for n in names), (expected, names)
    elapsed = [float(t) for t, _ in steps]
    assert elapsed == sorted(elapsed) and elapsed[-1] > 0


def test_max_cells_is_checked():
    with pytest.raises(ValueError, match="max_cells must be None or at least 30"):
        hb.cross_check(synthetic(), "batch", max_cells=10)


def test_median_lisis_is_median_lisi_per_column():
    from harmonybridge.metrics import _scores as _metrics

    a = synthetic(n_cells=600)
    X = a.obsm["X_pca"]
    both = _metrics.median_lisis(X, {"b": a.obs["batch"], "t": a.obs["cell_type"]}, max_cells=400)
    assert np.isclose(both["b"], _metrics.median_lisi(X, a.obs["batch"], max_cells=400))
    assert np.isclose(both["t"], _metrics.median_lisi(X, a.obs["cell_type"], max_cells=400))
