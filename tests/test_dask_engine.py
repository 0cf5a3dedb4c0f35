# ruff: noqa: E741  (O and E are Harmony's names: observed and expected batch counts per cluster)
"""The chunked (Dask) Harmony engine: its NumPy block functions against plain formulas and against
harmonypy's own state, the driver on the threaded scheduler against a real 2-worker localhost
cluster, and its fidelity to harmonypy through the cross-check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harmonybridge.engines import _dask_blocks as kb

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
    # harmonypy's formulas, K x N as it writes them
    dist = 2 * (1 - Y.T.astype(float) @ Zc.T.astype(float))
    scale = np.exp(-dist / sigma[:, None])
    scale /= scale.sum(0)
    O0 = rng.uniform(1, 50, size=(K, B))
    E0 = rng.uniform(1, 50, size=(K, B))
    P = np.clip(E0 / np.maximum(O0 + E0, 1e-8), 1e-8, 1) ** theta[None, :]
    R = scale * (P @ Phi)
    R /= R.sum(0)
    got_dist, got_R = kb.block_R(Zc, codes, Y, sigma, kb.penalty(O0, E0, theta))
    np.testing.assert_allclose(got_dist, dist.T, atol=1e-5)
    np.testing.assert_allclose(got_R, R.T, atol=1e-5)
    O, rowsum = kb.cluster_stats(got_R, codes, B)
    np.testing.assert_allclose(O, got_R.T @ Phi.T, rtol=1e-5)
    np.testing.assert_allclose(rowsum, got_R.sum(0), rtol=1e-5)
    np.testing.assert_allclose(kb.centroid_sums(Zc, got_R), Zc.T @ got_R, rtol=1e-4, atol=1e-5)
    # objective: k-means error + entropy + cross entropy (harmonypy's R_sigma * (theta log) @ Phi)
    km, ent = kb.objective_parts(got_R, got_dist, sigma)
    Rt = got_R.T.astype(float)
    E = np.outer(Rt.sum(1), Phi.sum(1) / n)
    want_cross = np.sum((Rt * sigma[:, None]) * ((theta[None, :] * np.log((O + E) / E)) @ Phi))
    assert km == pytest.approx(np.sum(Rt * dist), rel=1e-5)
    assert ent == pytest.approx(np.sum(Rt * np.log(Rt) * sigma[:, None]), rel=1e-5)
    assert kb.cross_entropy(O, E, theta, sigma) == pytest.approx(want_cross, rel=1e-6)
    # correction statistics: Phi_moe R_k Phi_moe^T and Phi_moe R_k Z per cluster
    M, S = kb.correction_stats(got_R, Z, codes, B)
    Phi_moe = np.vstack([np.ones(n), Phi])
    for k in range(K):
        np.testing.assert_allclose(M[k], (Phi_moe * Rt[k]) @ Phi_moe.T, rtol=1e-5)
        np.testing.assert_allclose(S[k], (Phi_moe * Rt[k]) @ Z, rtol=1e-4, atol=1e-4)
    # the correction of a chunk: Z - sum_k W_k^T Phi_moe R_k
    W = rng.normal(size=(K, B + 1, d))
    W[:, 0] = 0
    want = Z.astype(float).T.copy()
    for k in range(K):
        want -= W[k].T @ (Phi_moe * Rt[k])
    np.testing.assert_allclose(kb.correct(Z, got_R, codes, W), want.T, atol=1e-4)


def test_statistics_add_up_over_pieces():
    """What the driver relies on: statistics of pieces sum to those of the whole."""
    Z, _, codes, B = _cells(n=300)
    rng = np.random.default_rng(2)
    R = rng.dirichlet(np.ones(4), size=len(Z)).astype(F32)
    whole = kb.correction_stats(R, Z, codes, B)
    parts = [kb.correction_stats(R[s], Z[s], codes[s], B) for s in (slice(0, 120), slice(120, 300))]
    np.testing.assert_allclose(parts[0][0] + parts[1][0], whole[0], rtol=1e-6)
    np.testing.assert_allclose(parts[0][1] + parts[1][1], whole[1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("keys", "cutoff", "lamb"),
    [
        (["a"], 1e-5, None),
        (["a", "b"], 1e-5, None),
        (["a", "b"], 1e-5, 1.0),
        (["a"], 0.03, None),
        (["a", "b"], 0.06, None),
    ],
)
def test_correction_reproduces_harmonypy_from_its_own_assignments(keys, cutoff, lamb):
    """Given harmonypy's final R, the block functions rebuild its Z_corr: ridge terms, dynamic
    lambda (alpha E), fixed lambda, several covariates and batch_prop_cutoff (a cluster where some
    batch's mean membership is at or below the cutoff is not corrected)."""
    import harmonypy

    Z, local, codes, B = _cells(n=3000, d=10)
    rng = np.random.default_rng(3)
    Z = Z + local[:, :1] * 0.5 + rng.integers(0, 4, len(Z))[:, None] * 2
    meta = pd.DataFrame({"a": local[:, 0].astype(str), "b": local[:, 1].astype(str)})
    ho = harmonypy.run_harmony(
        Z, meta, keys, nclust=20, max_iter_harmony=2, batch_prop_cutoff=cutoff, lamb=lamb, verbose=False, random_state=0
    )
    R = np.asarray(ho.R)
    codes = codes[:, : len(keys)]
    B = 3 if len(keys) == 1 else 5
    O, rowsum = kb.cluster_stats(R, codes, B)
    n_b = np.bincount(codes.ravel(), minlength=B).astype(float)
    E = np.outer(rowsum, n_b / len(Z))
    M, S = kb.correction_stats(R, Z, codes, B)
    lam_vec = None if lamb is None else np.concatenate([[0.0], np.full(B, lamb)])
    W, _ = kb.ridge_betas(M, S, E, O, n_b, lam_vec, 0.2, cutoff)
    got = kb.correct(Z, R.astype(F32), codes, W)
    moved = np.abs(ho.Z_corr - Z).max()
    assert moved > 0.1  # harmonypy did correct
    assert np.abs(got - ho.Z_corr).max() < 2e-3 * moved
