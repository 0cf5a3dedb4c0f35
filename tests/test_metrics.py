"""Metrics: LISI against R's values, the agreement measures, and clustering comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import DATA, needs_data

from harmonybridge import _metrics, compare_clusterings


@needs_data("lisi_x.tsv.gz", "lisi_metadata.tsv.gz", "lisi_lisi.tsv.gz")
def test_lisi_matches_r_lisi_package():
    from harmonypy import compute_lisi

    X = pd.read_csv(DATA / "lisi_x.tsv.gz", sep="\t").to_numpy()
    meta = pd.read_csv(DATA / "lisi_metadata.tsv.gz", sep="\t")
    expected = pd.read_csv(DATA / "lisi_lisi.tsv.gz", sep="\t", index_col=0)[["label1", "label2"]].to_numpy()
    ours = compute_lisi(X, meta, ["label1", "label2"])
    np.testing.assert_allclose(ours, expected, atol=5e-3)
    assert _metrics.median_lisi(X, meta["label1"]) == pytest.approx(np.median(expected[:, 0]), abs=5e-3)


def test_lisi_on_a_sample_above_max_cells():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3000, 5))
    labels = pd.Series(rng.choice(["a", "b"], 3000))
    full = _metrics.median_lisi(X, labels)
    sampled = _metrics.median_lisi(X, labels, max_cells=1000)
    assert sampled == _metrics.median_lisi(X, labels, max_cells=1000)  # seeded
    assert sampled == pytest.approx(full, abs=0.1)  # well mixed either way: ~2


def test_per_pc_pearson_and_relative_l2():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(200, 5))
    assert np.allclose(_metrics.per_pc_pearson(A, A), 1)
    assert np.allclose(_metrics.per_pc_pearson(A, -A), -1)
    B = A.copy()
    B[:, 2] = rng.normal(size=200)
    r = _metrics.per_pc_pearson(A, B)
    assert r[2] < 0.3 and np.allclose(np.delete(r, 2), 1)
    assert _metrics.relative_l2(A, A) == 0
    assert _metrics.relative_l2(A, A * 1.1) == pytest.approx(0.1 / 1.05)
    with pytest.raises(ValueError, match="differ in shape"):
        _metrics.per_pc_pearson(A, A[:, :3])


def test_knn_overlap():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    idx = _metrics.knn_indices(X, 15)
    assert idx.shape == (300, 15)
    assert not (idx == np.arange(300)[:, None]).any()  # a cell is not its own neighbour
    assert _metrics.knn_overlap(idx, idx) == 1.0
    other = _metrics.knn_indices(rng.normal(size=(300, 4)), 15)
    assert _metrics.knn_overlap(idx, other) < 0.2
    with pytest.raises(ValueError, match="too few for 15 nearest neighbours"):
        _metrics.knn_indices(X[:10], 15)


def test_compare_clusterings():
    a = pd.Series(["x"] * 5 + ["y"] * 5, name="scanpy")
    b = pd.Series(["1"] * 5 + ["2"] * 5, name="seurat")
    out = compare_clusterings(a, b)
    assert out["ari"] == 1.0 and out["nmi"] == pytest.approx(1.0)
    assert out["contingency"].loc["x", "1"] == 5 and out["contingency"].loc["x", "2"] == 0
    shuffled = compare_clusterings(a, pd.Series(["1", "2"] * 5))
    assert shuffled["ari"] < 0.1
    with pytest.raises(ValueError, match="different numbers of cells"):
        compare_clusterings(a, b[:5])
