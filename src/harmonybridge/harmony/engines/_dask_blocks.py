# ruff: noqa: E741  (O and E are Harmony's names: observed and expected batch counts per cluster)
"""The map and reduce steps of the chunked Harmony engine, as plain functions on NumPy blocks.

Each function takes the rows of one piece of the cells (a chunk, or one block's share of a chunk)
plus a few small arrays (K x d, K x B) and returns small statistics; the driver (``_dask.py``)
sums them in a fixed order. The formulas are harmonypy 2.1's (its C++ backend, "matching R
harmony2"; the tests check them against harmonypy's own state):

- cells are clustered on ``Z_cos`` (each cell scaled to unit length) against centroids ``Y``
  (d x K, unit columns) that stay fixed during a Harmony iteration: ``dist = 2 (1 - Z_cos Y)``;
- each iteration starts from ``R = softmax_k(-dist / sigma)``; then the blocks of each k-means
  round reassign their cells with ``R = softmax_k(-dist / sigma + sum_c log_div[:, batch_c])``,
  ``log_div = theta * (log(2E + 1) - log(O + E + 1))`` (K x B) from the O and E the block sees
  (its own old contribution removed);
- the objective is ``(sum R dist + sum sigma R log R + sum sigma theta O log((O + E + 1) / (2E + 1)))
  * 2000 / N``: the last term needs only O and E, the others are sums over cells;
- the correction regresses ``Z_orig`` on ``[1, kept batches]`` weighted by ``R_k`` in each
  cluster; the intercept is the cluster's next centroid, the batch terms move each cell by
  ``- sum_k R_ik W_k^T x_i``. It needs per cluster ``X^T R_k X`` ((B+1) x (B+1)) and
  ``X^T R_k Z`` ((B+1) x d).

Rows are cells; ``codes`` (n x C) holds each cell's GLOBAL batch index (covariate offsets added).
Cells are float32 (as harmonypy 2.1 stores them); statistics are returned in float64.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

F32 = np.float32


def cosine_normalize(Z: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (a zero row stays zero)."""
    Z = np.asarray(Z, dtype=F32)
    norm = np.sqrt(np.einsum("ij,ij->i", Z, Z))
    norm[norm == 0] = 1
    return Z / norm[:, None]


def normalize_columns(Y: np.ndarray) -> np.ndarray:
    """Centroids d x K with unit-length columns (float32)."""
    Y = np.asarray(Y, dtype=np.float64)
    norm = np.linalg.norm(Y, axis=0)
    norm[norm == 0] = 1
    return (Y / norm).astype(F32)


def distances(Z_cos: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Cell-to-centroid distances ``2 (1 - Z_cos Y)`` (n x K)."""
    return 2 * (1 - Z_cos @ np.asfortranarray(Y, dtype=F32))  # Fortran order: about 2x faster in OpenBLAS


def log_diversity(O: np.ndarray, E: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """The log of the diversity penalty, ``theta (log(2E + 1) - log(O + E + 1))`` (K x B)."""
    return (theta[None, :] * (np.log(2 * E + 1) - np.log(O + E + 1))).astype(F32)


def assignments(dist: np.ndarray, codes: np.ndarray, sigma: np.ndarray, log_div: np.ndarray | None, *, entropy=False):
    """Soft assignments R (n x K): ``softmax_k(-dist / sigma + sum over covariates of log_div[:, batch])``.

    ``log_div=None``: without the penalty (the start of each Harmony iteration). With
    ``entropy=True`` returns ``(R, sum sigma R log R)``, the entropy from the shifted logits s and
    the softmax totals (``log R = s - log total``), as harmonypy 2.1 does, without a log per entry.
    """
    sigma32 = sigma.astype(F32)
    logits = -dist / sigma32[None, :]
    if log_div is not None:
        LT = np.ascontiguousarray(log_div.T, dtype=F32)  # B x K
        for c in range(codes.shape[1]):
            logits += LT[codes[:, c]]
    logits -= logits.max(axis=1, keepdims=True)
    R = np.exp(logits)
    total = R.sum(axis=1, keepdims=True)
    R /= total
    if not entropy:
        return R
    weighted = R @ sigma32  # sum_k sigma_k R_ik
    ent = np.einsum("ik,ik->i", R * sigma32[None, :], logits).astype(np.float64) - np.log(total[:, 0]) * weighted
    return R, float(ent.sum())


def block_R(Z_cos: np.ndarray, codes: np.ndarray, Y: np.ndarray, sigma: np.ndarray, log_div: np.ndarray | None):
    """``(dist, R)`` of some cells: distances to Y, then assignments under the penalty."""
    dist = distances(Z_cos, Y)
    return dist, assignments(dist, codes, sigma, log_div)


def onehot(codes: np.ndarray, n_batches: int) -> sp.csr_matrix:
    """Phi^T as a sparse n x B matrix (one 1 per cell and covariate)."""
    n, C = codes.shape
    rows = np.repeat(np.arange(n), C)
    return sp.csr_matrix((np.ones(n * C, dtype=F32), (rows, codes.reshape(-1))), shape=(n, n_batches))


def cluster_stats(R: np.ndarray, codes: np.ndarray, n_batches: int) -> tuple[np.ndarray, np.ndarray]:
    """``(O, rowsum)``: the cells' contribution to O (K x B, ``R^T Phi^T``) and to R's cluster sums (K)."""
    O = np.asarray((onehot(codes, n_batches).T @ R).T, dtype=np.float64)
    return O, R.sum(axis=0, dtype=np.float64)


def xlogx(R: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = R * np.log(R)
    out[~np.isfinite(out)] = 0
    return out


def objective_parts(R: np.ndarray, dist: np.ndarray, sigma: np.ndarray) -> tuple[float, float]:
    """``(k-means error, entropy)`` of some cells: ``sum R dist`` and ``sum sigma R log R`` (plainly)."""
    kmeans = float(np.einsum("ik,ik->", R.astype(np.float64), dist.astype(np.float64)))
    entropy = float((xlogx(R.astype(np.float64)).sum(axis=0) * sigma).sum())
    return kmeans, entropy


def kmeans_error(R: np.ndarray, dist: np.ndarray) -> float:
    """``sum R dist``: per-cell sums in float32, their total in float64."""
    return float(np.einsum("ik,ik->i", R, dist).sum(dtype=np.float64))


def cross_entropy(O: np.ndarray, E: np.ndarray, theta: np.ndarray, sigma: np.ndarray) -> float:
    """The diversity term ``sum_kb sigma_k theta_b O_kb log((O_kb + E_kb + 1) / (2 E_kb + 1))``."""
    return float(np.sum(sigma[:, None] * theta[None, :] * O * np.log((O + E + 1) / (2 * E + 1))))


def objective(kmeans: float, entropy: float, cross: float, n_cells: int) -> float:
    """harmonypy's objective: the three terms times 2000 / N."""
    return (kmeans + entropy + cross) * 2000.0 / n_cells


def keep_sets(O: np.ndarray, n_per_batch: np.ndarray, n_levels: list[int], cutoff: float):
    """``(kept, active)``: which batches each cluster corrects (K x B) and which clusters correct at all (K).

    As harmonypy 2.1: batch b is kept in cluster k when its cells' mean membership ``O_kb / N_b``
    is above ``cutoff`` and at least two batches of its covariate are; a cluster with no kept
    batch is not corrected (its centroid stays).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        above = O / n_per_batch[None, :] > cutoff
    above &= n_per_batch[None, :] > 0
    kept = np.zeros_like(above)
    start = 0
    for n in n_levels:
        block = above[:, start : start + n]
        kept[:, start : start + n] = block & (block.sum(axis=1, keepdims=True) > 1)
        start += n
    return kept, kept.any(axis=1)


def correction_stats(
    R: np.ndarray, Z_orig: np.ndarray, codes: np.ndarray, n_batches: int, kept: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(M, S)``: per cluster ``X^T R_k X`` (K x (B+1) x (B+1)) and ``X^T R_k Z_orig`` (K x (B+1) x d).

    X is the design ``[1, Phi^T]``: row/column 0 the intercept, 1 + b batch b. With ``kept``
    (K x B), a cell enters cluster k's intercept terms only if one of its batches is kept there
    (harmonypy 2.1's rule with several covariates); the batch terms are the same either way.
    """
    n, K = R.shape
    B1 = n_batches + 1
    d = Z_orig.shape[1]
    R64 = R.astype(np.float64)
    Rw = R64 if kept is None else R64 * np.logical_or.reduce([kept.T[codes[:, c]] for c in range(codes.shape[1])])
    M = np.zeros((K, B1, B1))
    O, _ = cluster_stats(R, codes, n_batches)
    M[:, 0, 0] = Rw.sum(axis=0)
    M[:, 0, 1:] = O
    M[:, 1:, 0] = O
    C = codes.shape[1]
    for c1 in range(C):
        for c2 in range(C):
            joint = codes[:, c1].astype(np.int64) * n_batches + codes[:, c2]
            G = sp.csr_matrix((np.ones(n), (np.arange(n), joint)), shape=(n, n_batches * n_batches))
            M[:, 1:, 1:] += np.asarray((G.T @ R64).T).reshape(K, n_batches, n_batches)
    # coordinate sums: float32 products over one piece (a few thousand cells), float64 across pieces
    S = np.zeros((K, B1, d))
    Z32 = np.asarray(Z_orig, dtype=F32)
    R32 = np.asarray(R, dtype=F32)
    S[:, 0, :] = Rw.astype(F32).T @ Z32
    for c in range(C):
        for b, idx in _groups(codes[:, c]):
            S[:, 1 + b, :] += R32[idx].T @ Z32[idx]
    return M, S


def _groups(codes: np.ndarray):
    """(value, row indices) for each value present in codes."""
    order = np.argsort(codes, kind="stable")
    values, starts = np.unique(codes[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    for v, s, e in zip(values, starts, ends, strict=True):
        yield int(v), order[s:e]


def restrict_intercept(M: np.ndarray, S: np.ndarray, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """With one covariate: the intercept terms over the cells of kept batches only (from per-batch sums)."""
    M, S = M.copy(), S.copy()
    diag = np.einsum("kbb->kb", M[:, 1:, 1:])
    M[:, 0, 0] = np.where(kept, diag, 0).sum(axis=1)
    S[:, 0, :] = np.einsum("kb,kbd->kd", kept.astype(np.float64), S[:, 1:, :])
    return M, S


def ridge_betas(
    M: np.ndarray,
    S: np.ndarray,
    E: np.ndarray,
    kept: np.ndarray,
    active: np.ndarray,
    lamb: np.ndarray | None,
    alpha: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W, intercepts, lambdas)``: per active cluster the ridge solution on ``[1, kept batches]``.

    ``W`` (K x (B+1) x d) holds the batch terms (row 0, the intercept, zeroed: it is not removed);
    ``intercepts`` (K x d) the intercepts, harmonypy's next centroids (NaN for inactive clusters,
    whose centroids stay). ``lamb=None``: the batch penalties are ``alpha * E_kb`` (Harmony2's
    dynamic lambda), the intercept's 0; otherwise ``lamb`` is the (B+1) vector (intercept first;
    the intercept's penalty applies only when every batch is kept). ``lambdas`` (K x (B+1)) are
    the penalties used.
    """
    K, B1, d = S.shape
    W = np.zeros(S.shape)
    intercepts = np.full((K, d), np.nan)
    lambdas = np.zeros((K, B1))
    for k in np.flatnonzero(active):
        idx = np.concatenate([[0], 1 + np.flatnonzero(kept[k])])
        if lamb is None:
            lam = np.concatenate([[0.0], alpha * E[k]])
        else:
            lam = np.asarray(lamb, dtype=np.float64).copy()
            if not kept[k].all():
                lam[0] = 0.0
        Wk = np.linalg.solve(M[k][np.ix_(idx, idx)] + np.diag(lam[idx]), S[k][idx])
        intercepts[k] = Wk[0]
        Wk[0] = 0  # the intercept is not removed
        W[k][idx] = Wk
        lambdas[k][idx] = lam[idx]
    return W, intercepts, lambdas


def correct(Z_orig: np.ndarray, R: np.ndarray, codes: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``Z_orig - sum_k R_ik W_k^T x_i`` for each cell (x_i: its design row; W's intercept row is zero)."""
    Z = np.array(Z_orig, dtype=F32)
    W32 = W.astype(F32)
    for c in range(codes.shape[1]):
        for b, idx in _groups(codes[:, c]):
            Z[idx] -= R[idx] @ W32[:, 1 + b, :]
    return Z
