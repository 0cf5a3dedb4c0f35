# ruff: noqa: E741  (O and E are Harmony's names: observed and expected batch counts per cluster)
"""The chunked (Dask) Harmony engine: its NumPy block functions against plain formulas and against
harmonypy's own state, the driver on the threaded scheduler against a real 2-worker localhost
cluster, and its fidelity to harmonypy through the cross-check."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from harmonybridge.harmony.engines import _dask_blocks as kb

F32 = np.float32


def _cells(n=400, d=6, levels=(3, 2), seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, d)).astype(F32)
    local = np.stack([rng.integers(0, L, n) for L in levels], axis=1)
    offsets = np.cumsum([0, *levels[:-1]])
    return Z, local, local + offsets, int(sum(levels))


def _phi(codes, B):
    """Dense Phi (B x n), one 1 per cell and covariate."""
    Phi = np.zeros((B, len(codes)))
    for c in range(codes.shape[1]):
        Phi[codes[:, c], np.arange(len(codes))] = 1
    return Phi


def test_block_functions_match_plain_formulas():
    Z, _, codes, B = _cells()
    n, d = Z.shape
    K = 5
    rng = np.random.default_rng(1)
    Y = kb.normalize_columns(rng.normal(size=(d, K)))
    sigma = np.full(K, 0.1)
    theta = np.linspace(0.5, 2, B)
    Zc = kb.cosine_normalize(Z)
    np.testing.assert_allclose(np.linalg.norm(Zc, axis=1), 1, rtol=1e-6)
    Phi = _phi(codes, B)
    # harmonypy 2.1's formulas, K x N as it writes them
    dist = 2 * (1 - Y.T.astype(float) @ Zc.T.astype(float))
    O0 = rng.uniform(1, 50, size=(K, B))
    E0 = rng.uniform(1, 50, size=(K, B))
    log_div = theta[None, :] * (np.log(2 * E0 + 1) - np.log(O0 + E0 + 1))
    logits = -dist / sigma[:, None] + log_div @ Phi  # summed over the covariates of each cell
    R = np.exp(logits - logits.max(0))
    R /= R.sum(0)
    got_dist, got_R = kb.block_R(Zc, codes, Y, sigma, kb.log_diversity(O0, E0, theta))
    np.testing.assert_allclose(got_dist, dist.T, atol=1e-5)
    np.testing.assert_allclose(got_R, R.T, atol=1e-5)
    R0 = np.exp(-dist / sigma[:, None])
    np.testing.assert_allclose(kb.block_R(Zc, codes, Y, sigma, None)[1], (R0 / R0.sum(0)).T, atol=1e-5)
    O, rowsum = kb.cluster_stats(got_R, codes, B)
    np.testing.assert_allclose(O, got_R.T @ Phi.T, rtol=1e-5)
    np.testing.assert_allclose(rowsum, got_R.sum(0), rtol=1e-5)
    # objective: k-means error + entropy + cross entropy
    km, ent = kb.objective_parts(got_R, got_dist, sigma)
    Rt = got_R.T.astype(float)
    E = np.outer(Rt.sum(1), Phi.sum(1) / n)
    want_cross = np.sum(sigma[:, None] * theta[None, :] * O * np.log((O + E + 1) / (2 * E + 1)))
    assert km == pytest.approx(np.sum(Rt * dist), rel=1e-5)
    assert ent == pytest.approx(np.sum(Rt * np.log(Rt) * sigma[:, None]), rel=1e-5)
    assert kb.cross_entropy(O, E, theta, sigma) == pytest.approx(want_cross, rel=1e-6)
    # correction statistics: X^T R_k X and X^T R_k Z per cluster, X = [1, Phi^T]
    M, S = kb.correction_stats(got_R, Z, codes, B)
    X = np.vstack([np.ones(n), Phi])
    for k in range(K):
        np.testing.assert_allclose(M[k], (X * Rt[k]) @ X.T, rtol=1e-5)
        np.testing.assert_allclose(S[k], (X * Rt[k]) @ Z, rtol=1e-4, atol=1e-4)
    # with kept batches: a cell is in the intercept terms if one of its batches is kept
    kept = rng.random((K, B)) < 0.5
    Mk, Sk = kb.correction_stats(got_R, Z, codes, B, kept)
    for k in range(K):
        w = Rt[k] * (kept[k].astype(float) @ Phi > 0)
        assert Mk[k, 0, 0] == pytest.approx(w.sum(), rel=1e-6)
        np.testing.assert_allclose(Sk[k, 0], w @ Z, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(Mk[k, 1:, 1:], M[k, 1:, 1:])
    # the correction of a chunk: Z - sum_k W_k^T X R_k
    W = rng.normal(size=(K, B + 1, d))
    W[:, 0] = 0
    want = Z.astype(float).T.copy()
    for k in range(K):
        want -= W[k].T @ (X * Rt[k])
    np.testing.assert_allclose(kb.correct(Z, got_R, codes, W), want.T, atol=1e-4)


def test_intercept_restricted_to_kept_batches_with_one_covariate():
    Z, _, codes, B = _cells(levels=(4,))
    rng = np.random.default_rng(5)
    R = rng.dirichlet(np.ones(3), size=len(Z)).astype(F32)
    kept = np.array([[True, False, True, True], [True] * 4, [False, True, True, False]])
    M, S = kb.correction_stats(R, Z, codes, B)
    want = kb.correction_stats(R, Z, codes, B, kept)
    got = kb.restrict_intercept(M, S, kept)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)


def test_statistics_add_up_over_pieces():
    """What the driver relies on: statistics of pieces sum to those of the whole."""
    Z, _, codes, B = _cells(n=300)
    rng = np.random.default_rng(2)
    R = rng.dirichlet(np.ones(4), size=len(Z)).astype(F32)
    whole = kb.correction_stats(R, Z, codes, B)
    parts = [kb.correction_stats(R[s], Z[s], codes[s], B) for s in (slice(0, 120), slice(120, 300))]
    np.testing.assert_allclose(parts[0][0] + parts[1][0], whole[0], rtol=1e-6)
    np.testing.assert_allclose(parts[0][1] + parts[1][1], whole[1], rtol=1e-5, atol=1e-5)


def _harmonypy_case(keys, **kwargs):
    import harmonypy

    Z, local, codes, _ = _cells(n=3000, d=10)
    rng = np.random.default_rng(3)
    Z = Z + local[:, :1] * 0.5 + rng.integers(0, 4, len(Z))[:, None] * 2
    meta = pd.DataFrame({"a": local[:, 0].astype(str), "b": local[:, 1].astype(str)})
    ho = harmonypy.run_harmony(Z, meta, keys, nclust=20, verbose=False, random_state=0, **kwargs)
    return Z, codes[:, : len(keys)], [3, 2][: len(keys)], ho


@pytest.mark.parametrize(
    ("keys", "cutoff", "lamb"),
    [
        (["a"], 1e-5, None),
        (["a", "b"], 1e-5, None),
        (["a", "b"], 1e-5, 1.0),
        (["a"], 0.03, None),
        (["a"], 0.06, None),
        (["a", "b"], 0.06, None),
    ],
)
def test_correction_reproduces_harmonypy_from_its_own_assignments(keys, cutoff, lamb):
    """Given harmonypy's final R, the block functions rebuild its Z_corr and its next centroids Y
    (the ridge intercepts): ridge terms, dynamic lambda (alpha E), fixed lambda, several covariates
    and batch_prop_cutoff (the kept batches of each cluster)."""
    Z, codes, n_levels, ho = _harmonypy_case(keys, max_iter_harmony=2, batch_prop_cutoff=cutoff, lamb=lamb)
    R = np.asarray(ho.R)
    B = sum(n_levels)
    O, rowsum = kb.cluster_stats(R, codes, B)
    n_b = np.bincount(codes.ravel(), minlength=B).astype(float)
    E = np.outer(rowsum, n_b / len(Z))
    kept, active = kb.keep_sets(O, n_b, n_levels, cutoff)
    if len(keys) == 1:
        M, S = kb.restrict_intercept(*kb.correction_stats(R, Z, codes, B), kept)
    else:
        M, S = kb.correction_stats(R, Z, codes, B, kept)
    lam_vec = None if lamb is None else np.concatenate([[0.0], np.full(B, lamb)])
    W, intercepts, _ = kb.ridge_betas(M, S, E, kept, active, lam_vec, 0.2)
    got = kb.correct(Z, R.astype(F32), codes, W)
    moved = np.abs(ho.Z_corr - Z).max()
    assert moved > 0.1  # harmonypy did correct
    assert np.abs(got - ho.Z_corr).max() < 2e-3 * moved
    Y = kb.normalize_columns(intercepts[active].T)
    np.testing.assert_allclose(Y, np.asarray(ho.Y)[:, active], atol=5e-3)


def test_objective_reproduces_harmonypy():
    """harmonypy's k-means objective of iteration 2, rebuilt from its state: distances to the
    centroids and cells of iteration 1, its final R, O and E from R."""
    kw = {"max_iter_kmeans": 1, "epsilon_harmony": 1e-12}
    Z, codes, n_levels, h1 = _harmonypy_case(["a"], max_iter_harmony=1, **kw)
    *_, h2 = _harmonypy_case(["a"], max_iter_harmony=2, **kw)
    B = sum(n_levels)
    dist = kb.distances(np.asarray(h1.Z_cos, dtype=F32), np.asarray(h1.Y))
    R = np.asarray(h2.R, dtype=F32)
    sigma, theta = np.full(R.shape[1], 0.1), np.full(B, 2.0)
    O, rowsum = kb.cluster_stats(R, codes, B)
    E = np.outer(rowsum, np.bincount(codes.ravel(), minlength=B) / len(Z))
    got = kb.objective(*kb.objective_parts(R, dist, sigma), kb.cross_entropy(O, E, theta, sigma), len(Z))
    assert got == pytest.approx(h2.objective_kmeans[-1], rel=1e-4)


# --- the driver -----------------------------------------------------------------------------------


def _synthetic_dask(n=3000, chunk=700):
    import dask.array as da
    from helpers import synthetic

    adata = synthetic(n_cells=n, n_pcs=10, n_batches=3, seed=1)
    Z = da.from_array(adata.obsm["X_pca"], chunks=(chunk, -1))
    return adata, Z, adata.obs["batch"].cat.codes.to_numpy()


def _small_graph_inputs(array) -> int:
    """The largest NumPy array held literally in a dask array's graph (elements)."""
    sizes = [0]

    def walk(x):
        if isinstance(x, np.ndarray):
            sizes.append(x.size)
        elif isinstance(x, (tuple, list)):
            for y in x:
                walk(y)
        elif hasattr(x, "args"):  # dask Task objects
            for y in getattr(x, "args", ()):
                walk(y)

    for task in dict(array.__dask_graph__()).values():
        walk(task)
    return max(sizes)


def test_threaded_and_two_worker_cluster_give_identical_output():
    """A real distributed scheduler with two worker processes over TCP gives the same numbers as
    the threaded scheduler; the result is lazy, in the input's order and chunks, and its graph
    holds only small literal arrays."""
    from distributed import Client, LocalCluster

    from harmonybridge import HarmonyParams
    from harmonybridge.harmony.engines._dask import cleanup_scratch, harmonize

    adata, Z, codes = _synthetic_dask()
    p = HarmonyParams(nclust=20, max_iter=3, block_size=0.25).resolve(adata.n_obs, 1)
    seen = []
    lazy, trace = harmonize(Z, codes, [3], p, progress=seen.append)
    assert lazy.chunks == Z.chunks
    assert _small_graph_inputs(lazy) < 10_000
    threaded = lazy.compute()
    assert [s["iteration"] for s in seen] == list(range(1, trace["iterations"] + 1))
    assert trace["n_chunks"] == 5 and trace["n_blocks"] == 4 and trace["chunk_cells"] == 700
    assert len(trace["objective"]) == trace["iterations"] + 1
    with (
        LocalCluster(n_workers=2, processes=True, protocol="tcp", host="127.0.0.1", threads_per_worker=1) as cluster,
        Client(cluster) as client,
    ):
        lazy2, trace2 = harmonize(Z, codes, [3], p, client=client)
        distributed = client.compute(lazy2).result()
    assert "2 workers" in trace2["scheduler"] and "tcp://127.0.0.1" in trace2["scheduler"]
    np.testing.assert_array_equal(threaded, distributed)
    assert trace["objective"] == trace2["objective"]
    assert np.abs(threaded - adata.obsm["X_pca"]).max() > 0.5  # it did correct
    for t in (trace, trace2):
        cleanup_scratch(t)
        assert not os.path.exists(t["scratch"])


def test_bad_batch_codes_are_refused(tmp_path):
    from harmonybridge import HarmonyParams
    from harmonybridge.harmony.engines._dask import harmonize

    adata, Z, codes = _synthetic_dask()
    p = HarmonyParams(nclust=20, max_iter=1).resolve(adata.n_obs, 1)
    with pytest.raises(ValueError, match=r"covariate 0 must lie in 0\.\.1"):
        harmonize(Z, codes, [2], p, scratch=tmp_path)
    assert list(tmp_path.iterdir()) == []  # no scratch directory left behind
    with pytest.raises(ValueError, match="resolved"):
        harmonize(Z, codes, [3], HarmonyParams(nclust=20))


def test_run_harmony_with_the_dask_backend(caplog):
    from helpers import synthetic

    import harmonybridge as hb

    adata = synthetic(n_cells=1500, n_pcs=8, n_batches=3, seed=2)
    with caplog.at_level("INFO", logger="harmonybridge"):
        hb.run_harmony(adata, "batch", backend="dask", nclust=15, chunk_cells=400, verbose=True)
    rec = adata.uns["harmony"]
    assert rec["engine"] == "dask" and rec["backend"] == "dask"
    assert rec["params"]["chunk_cells"] == 400
    assert rec["dask"]["n_chunks"] == 4 and rec["dask"]["chunk_cells"] == 400 and rec["dask"]["n_blocks"] == 20
    assert rec["dask"]["scheduler"].startswith("dask local scheduler")
    assert adata.obsm["X_pca_harmony"].shape == adata.obsm["X_pca"].shape
    assert any("cells/s" in m for m in caplog.messages)


# --- fidelity through the cross-check ------------------------------------------------------------


def _dataset(name):
    from helpers import DATA, DATA_MISSING, load_pcs

    if name == "ifnb_2800":
        if not (DATA / "ifnb_2800_counts.h5ad").exists():
            pytest.skip(f"{DATA_MISSING}: ifnb_2800_counts.h5ad (expected in {DATA})")
        import harmonybridge as hb
        from harmonybridge.workflow import _pipeline as wf

        return wf.preprocess(hb.read(DATA / "ifnb_2800_counts.h5ad"), "stim"), "stim"
    if not (DATA / f"{name}_pcs.tsv.gz").exists():
        pytest.skip(f"{DATA_MISSING}: {name} (expected in {DATA})")
    return load_pcs(name), {"pbmc_3500": "donor", "cell_lines_2370": "dataset"}[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pbmc_3500", "cell_lines_2370", "ifnb_2800"])
def test_cross_check_agrees_with_harmonypy(name):
    import harmonybridge as hb

    adata, batch = _dataset(name)
    report = hb.cross_check(adata, batch, engines=("python", "dask"), figures=False)
    assert report.verdict == "agree", repr(report)
    table = report.table
    # the chunked engine's own seed spread is at most twice harmonypy's
    for metric in ("pc_r_min", "knn_overlap"):
        gap_dask = 1 - table.loc[metric, "within dask (worst)"]
        gap_python = 1 - table.loc[metric, "within python (worst)"]
        assert gap_dask <= 2 * gap_python + 0.002, (metric, gap_dask, gap_python)


@pytest.mark.slow
def test_cross_check_catches_a_planted_difference(pbmc3500):
    import harmonybridge as hb

    report = hb.cross_check(pbmc3500, "donor", engines=("python", "dask"), dask_params={"theta": 0.0}, figures=False)
    assert report.verdict != "agree"
    assert report.params["dask"]["theta"] == [0.0]
    head = repr(report).splitlines()[2]  # the versions line names the engines compared
    assert head.startswith("  harmonypy 2.1") and "dask 20" in head and "R harmony" not in head


def test_overrides_text_names_every_engine_it_is_given():
    """The report's overrides line takes the engines' labels from the caller (the registry's), so the
    dask engine's overrides are said (they were not: the line spelled python, r and seurat itself)."""
    from harmonybridge.harmony.engines import ENGINES
    from harmonybridge.report import overrides_text

    labels = {name: e.label for name, e in ENGINES.items()}
    overrides = {"python": {}, "dask": {"theta": {"engine": 0.5, "shared": 2}}}
    assert (
        overrides_text(overrides, labels) == "overrides applied to one engine only: Dask engine theta=0.5 (shared: 2)"
    )
    both = {"dask": {"lamb": {"engine": 1, "shared": "automatic"}}, "python": {"theta": {"engine": 0, "shared": 2}}}
    by_engine = {"r": {"block_size": {"asked": 0.05, "ran": 0.2}}}
    assert overrides_text(both, labels, by_engine) == (
        "overrides applied to one engine only: Dask engine lamb=1 (shared: automatic); Python engine theta=0 "
        "(shared: 2); r engine changed block_size 0.05 -> 0.2 itself"
    )
    assert overrides_text({"dask": {}}, labels) == "overrides: none (every engine ran the same parameters)"


@pytest.mark.slow
def test_cross_check_report_says_the_dask_override():
    from helpers import synthetic

    import harmonybridge as hb

    report = hb.cross_check(
        synthetic(), "batch", engines=("python", "dask"), n_seeds=2, dask_params={"theta": 0.5}, figures=False
    )
    assert report.meta["overrides"] == {"python": {}, "dask": {"theta": {"engine": 0.5, "shared": 2}}}
    said = "overrides applied to one engine only: Dask engine theta=0.5 (shared: 2)"
    assert said in repr(report) and said in report.to_html()


def test_entropy_from_the_softmax_totals_matches_r_log_r():
    Z, _, codes, B = _cells()
    rng = np.random.default_rng(4)
    Y = kb.normalize_columns(rng.normal(size=(Z.shape[1], 6)))
    sigma = np.linspace(0.05, 0.2, 6)
    dist = kb.distances(kb.cosine_normalize(Z), Y)
    log_div = rng.normal(size=(6, B)).astype(F32)
    R, entropy = kb.assignments(dist, codes, sigma, log_div, entropy=True)
    np.testing.assert_array_equal(R, kb.assignments(dist, codes, sigma, log_div))
    assert entropy == pytest.approx(kb.objective_parts(R, dist, sigma)[1], rel=1e-5)
    assert kb.kmeans_error(R, dist) == pytest.approx(kb.objective_parts(R, dist, sigma)[0], rel=1e-5)


def test_cells_come_back_in_their_order_with_tiny_chunks():
    """Chunks smaller than the number of blocks (empty blocks) work, and every cell returns to its row:
    with a huge ridge penalty nothing moves, so the output equals the input row for row."""
    import dask.array as da
    from helpers import synthetic

    from harmonybridge import HarmonyParams
    from harmonybridge.harmony.engines._dask import cleanup_scratch, harmonize

    adata = synthetic(n_cells=60, n_pcs=5, n_batches=2, seed=3)
    Z = da.from_array(adata.obsm["X_pca"], chunks=(3, -1))
    codes = adata.obs["batch"].cat.codes.to_numpy()
    p = HarmonyParams(nclust=3, max_iter=1, lamb=1e9, block_size=0.2).resolve(adata.n_obs, 1)
    lazy, trace = harmonize(Z, codes, [2], p)
    np.testing.assert_allclose(lazy.compute(), adata.obsm["X_pca"], atol=1e-4)
    assert trace["n_chunks"] == 20 and trace["n_blocks"] == 5  # 3-cell chunks: blocks 3 and 4 are empty
    cleanup_scratch(trace)
