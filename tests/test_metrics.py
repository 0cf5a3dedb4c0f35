"""Metrics: LISI against R's values, the agreement measures, and clustering comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import DATA, needs_data, synthetic

from harmonybridge import compare_clusterings
from harmonybridge.metrics import _scores as _metrics


@needs_data("lisi_x.tsv.gz", "lisi_metadata.tsv.gz", "lisi_lisi.tsv.gz")
def test_lisi_matches_r_lisi_package():
    from harmonypy import compute_lisi

    X = pd.read_csv(DATA / "lisi_x.tsv.gz", sep="\t").to_numpy()
    meta = pd.read_csv(DATA / "lisi_metadata.tsv.gz", sep="\t")
    expected = pd.read_csv(DATA / "lisi_lisi.tsv.gz", sep="\t", index_col=0)[["label1", "label2"]].to_numpy()
    np.testing.assert_allclose(compute_lisi(X, meta, ["label1", "label2"]), expected, atol=5e-3)  # harmonypy's
    ours = np.column_stack([_metrics.lisi(X, meta[c]) for c in ("label1", "label2")])
    np.testing.assert_allclose(ours, expected, atol=5e-3)
    assert _metrics.median_lisi(X, meta["label1"]) == pytest.approx(np.median(expected[:, 0]), abs=5e-3)


def test_lisi_is_harmonypys_on_partly_mixed_cells():
    from harmonypy import compute_lisi

    rng = np.random.default_rng(5)
    X = rng.normal(size=(2000, 10))
    frame = pd.DataFrame(
        {
            "mixed": rng.choice(["a", "b", "c"], 2000),  # LISI near 3
            "by_side": np.where(X[:, 0] + rng.normal(scale=0.5, size=2000) > 0, "left", "right"),  # 1 to 2
        }
    )
    expected = compute_lisi(X, frame, ["mixed", "by_side"])
    assert np.ptp(expected[:, 1]) > 0.5 and np.median(expected[:, 0]) > 2.5  # values that tell weights apart
    ours = np.column_stack([_metrics.lisi(X, frame[c]) for c in frame.columns])
    np.testing.assert_allclose(ours, expected, atol=1e-9)
    assert _metrics.median_lisis(X, dict(frame.items())) == pytest.approx(
        dict(zip(frame, np.median(expected, 0), strict=True))
    )
    np.testing.assert_allclose(
        _metrics.lisi(X, frame["by_side"], perplexity=10), compute_lisi(X, frame, ["by_side"], 10)[:, 0], atol=1e-9
    )


def test_silhouette_is_scikit_learns_with_its_sample():
    from sklearn.metrics import silhouette_score

    adata = synthetic(n_cells=1500, n_pcs=10)  # float32, which scikit-learn keeps: equal to 1e-6
    X, types = adata.obsm["X_pca"], adata.obs["cell_type"].to_numpy()
    assert _metrics.silhouette(X, types) == pytest.approx(silhouette_score(X, types), abs=1e-6)
    sampled = _metrics.silhouette(X, types, max_cells=600, random_state=3)
    assert sampled == pytest.approx(silhouette_score(X, types, sample_size=600, random_state=3), abs=1e-6)
    lone = types.copy()
    lone[0] = "only me"  # a label of one cell counts 0, as in scikit-learn
    assert _metrics.silhouette(X, lone) == pytest.approx(silhouette_score(X, lone), abs=1e-6)
    with pytest.raises(ValueError, match="silhouette needs 2 to n_cells - 1 labels, got 1"):
        _metrics.silhouette(X, np.zeros(len(X)))


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
