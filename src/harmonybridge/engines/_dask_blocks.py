# ruff: noqa: E741  (O and E are Harmony's names: observed and expected batch counts per cluster)
"""The map and reduce steps of the chunked Harmony engine, as plain functions on NumPy blocks.

Each function takes the rows of one piece of the cells (a chunk, or one block's share of a chunk)
plus a few small arrays (K x d, K x B) and returns small statistics; the driver (``_dask.py``)
sums them in a fixed order. The formulas are harmonypy 2.1's (the R harmony formulas):

- cells are clustered on ``Z_cos`` (each cell scaled to unit length), against centroids ``Y``
  (d x K, unit columns): ``dist = 2 (1 - Z_cos Y)``, ``scale = softmax_k(-dist / sigma)``;
- a block's soft assignments are ``R = normalise(scale * (P @ Phi))`` with the diversity penalty
  ``P = clip(E / (O + E)) ** theta`` (K x B) from the O and E the block sees (its own old
  contribution removed), summed over the covariates of each cell, as harmonypy's ``P @ Phi``;
- the objective is ``sum R dist + sum sigma R log R + sum sigma theta O log((O + E) / E)``, times
  2000 / N; the last term needs only O and E, the others are sums over cells;
- the correction regresses ``Z_orig`` on the design ``[1, Phi]`` weighted by ``R_k`` in each
  cluster: it needs per cluster ``Phi_moe R_k Phi_moe^T`` ((B+1) x (B+1)) and ``Phi_moe R_k Z``
  ((B+1) x d), and then moves each cell by ``- sum_k R_ik W_k^T x_i`` (intercept kept).

Rows are cells; ``codes`` (n x C) holds each cell's GLOBAL batch index (covariate offsets added).
Cells are float32 (as harmonypy 2.1 computes); statistics are returned in float64.
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
    return 2 * (1 - Z_cos @ Y)


def scaled_distances(dist: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``exp(-dist / sigma)`` normalised over clusters for each cell (n x K)."""
    scale = np.exp(-dist / sigma.astype(F32)[None, :])
    total = scale.sum(axis=1, keepdims=True)
    np.maximum(total, F32(1e-30), out=total)
    return scale / total


def penalty(O: np.ndarray, E: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """The diversity penalty ``clip(E / clip(O + E), 1e-8, 1) ** theta`` (K x B), from the O and E a block sees."""
    ratio = E / np.maximum(O + E, 1e-8)
    ratio = np.clip(ratio, 1e-8, 1.0)
    return np.power(ratio, theta[None, :]).astype(F32)


def assignments(scale: np.ndarray, codes: np.ndarray, P: np.ndarray | None) -> np.ndarray:
    """Soft assignments R (n x K) of cells from their scaled distances and the penalty P.

    ``P=None`` is the initial assignment (no penalty: R = scale). Each cell's penalty is the sum
    over its covariates of P's column for its batch (harmonypy's ``P @ Phi``).
    """
    if P is None:
        return np.ascontiguousarray(scale, dtype=F32)
    PT = np.ascontiguousarray(P.T)  # B x K
    pen = PT[codes[:, 0]]
    for c in range(1, codes.shape[1]):
        pen = pen + PT[codes[:, c]]
    R = scale * pen
    total = R.sum(axis=1, keepdims=True)
    np.maximum(total, F32(1e-8), out=total)
    return (R / total).astype(F32, copy=False)


def block_R(Z_cos: np.ndarray, codes: np.ndarray, Y: np.ndarray, sigma: np.ndarray, P: np.ndarray | None):
    """``(dist, R)`` of some cells: distances to Y, then assignments under the penalty P."""
    dist = distances(Z_cos, Y)
    return dist, assignments(scaled_distances(dist, sigma), codes, P)


def onehot(codes: np.ndarray, n_batches: int) -> sp.csr_matrix:
    """Phi^T as a sparse n x B matrix (one 1 per cell and covariate)."""
    n, C = codes.shape
    rows = np.repeat(np.arange(n), C)
    return sp.csr_matrix((np.ones(n * C, dtype=F32), (rows, codes.reshape(-1))), shape=(n, n_batches))


def cluster_stats(R: np.ndarray, codes: np.ndarray, n_batches: int) -> tuple[np.ndarray, np.ndarray]:
    """``(O, rowsum)``: the cells' contribution to O (K x B, ``R^T Phi^T``) and to R's cluster sums (K)."""
    O = np.asarray((onehot(codes, n_batches).T @ R).T, dtype=np.float64)
    return O, R.sum(axis=0, dtype=np.float64)


def centroid_sums(Z_cos: np.ndarray, R: np.ndarray) -> np.ndarray:
    """``Z_cos^T R`` (d x K): the cells' part of the next centroids."""
    return (Z_cos.T @ R).astype(np.float64)


def xlogx(R: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = R * np.log(R)
    out[~np.isfinite(out)] = 0
    return out


def objective_parts(R: np.ndarray, dist: np.ndarray, sigma: np.ndarray) -> tuple[float, float]:
    """``(k-means error, entropy)`` of some cells: ``sum R dist`` and ``sum sigma R log R``."""
    kmeans = float(np.einsum("ik,ik->", R.astype(np.float64), dist.astype(np.float64)))
    entropy = float((xlogx(R.astype(np.float64)).sum(axis=0) * sigma).sum())
    return kmeans, entropy


def cross_entropy(O: np.ndarray, E: np.ndarray, theta: np.ndarray, sigma: np.ndarray) -> float:
    """The diversity term ``sum_kb sigma_k theta_b O_kb log((O_kb + E_kb) / E_kb)`` (clamped at 1e-8 in the log)."""
    Oc, Ec = np.maximum(O, 1e-8), np.maximum(E, 1e-8)
    return float(np.sum(sigma[:, None] * theta[None, :] * np.log((Oc + Ec) / Ec) * O))


def objective(kmeans: float, entropy: float, cross: float, n_cells: int) -> float:
    """harmonypy's objective: the three terms times 2000 / N."""
    return (kmeans + entropy + cross) * 2000.0 / n_cells


def correction_stats(
    R: np.ndarray, Z_orig: np.ndarray, codes: np.ndarray, n_batches: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(M, S)``: per cluster ``Phi_moe R_k Phi_moe^T`` (K x (B+1) x (B+1)) and ``Phi_moe R_k Z_orig`` (K x (B+1) x d).

    Row/column 0 is the intercept; 1 + b is batch b.
    """
    n, K = R.shape
    B1 = n_batches + 1
    d = Z_orig.shape[1]
    R64 = R.astype(np.float64)
    M = np.zeros((K, B1, B1))
    O, rowsum = cluster_stats(R, codes, n_batches)
    M[:, 0, 0] = rowsum
    M[:, 0, 1:] = O
    M[:, 1:, 0] = O
    C = codes.shape[1]
    for c1 in range(C):
        for c2 in range(C):
            joint = codes[:, c1].astype(np.int64) * n_batches + codes[:, c2]
            G = sp.csr_matrix((np.ones(n), (np.arange(n), joint)), shape=(n, n_batches * n_batches))
            M[:, 1:, 1:] += np.asarray((G.T @ R64).T).reshape(K, n_batches, n_batches)
    S = np.zeros((K, B1, d))
    S[:, 0, :] = R.T @ Z_orig
    for c in range(C):
        for b, idx in _groups(codes[:, c]):
            S[:, 1 + b, :] += R[idx].T @ Z_orig[idx]
    return M, S


def _groups(codes: np.ndarray):
    """(value, row indices) for each value present in codes."""
    order = np.argsort(codes, kind="stable")
    values, starts = np.unique(codes[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    for v, s, e in zip(values, starts, ends, strict=True):
        yield int(v), order[s:e]


def ridge_betas(
    M: np.ndarray,
    S: np.ndarray,
    E: np.ndarray,
    O: np.ndarray,
    n_per_batch: np.ndarray,
    lamb: np.ndarray | None,
    alpha: float,
    batch_prop_cutoff: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``(W, lambdas)``: per cluster the ridge coefficients W_k ((B+1) x d, intercept row 0 zeroed).

    ``lamb=None`` estimates the penalty per cluster as ``alpha * E_k`` (Harmony2's dynamic lambda);
    otherwise ``lamb`` is the (B+1) vector (intercept first). As in harmonypy 2.1 (checked against
    its ``R`` and ``Z_corr``), cluster k is not corrected at all (W_k = 0) when some batch's cells'
    mean membership of it (``O_kb / N_b``) is not above ``batch_prop_cutoff``. ``lambdas``
    (K x (B+1)) are the penalties used (0 for clusters left uncorrected). A batch level without
    cells has no column.
    """
    K, B1, _ = M.shape
    W = np.zeros(S.shape)
    lambdas = np.zeros((K, B1))
    present = n_per_batch > 0  # a level without cells has no column
    idx = np.flatnonzero(np.concatenate([[True], present]))
    for k in range(K):
        lam = np.concatenate([[0.0], alpha * E[k]]) if lamb is None else np.asarray(lamb, dtype=np.float64)
        if not np.all(O[k][present] / n_per_batch[present] > batch_prop_cutoff):
            continue
        Wk = np.linalg.inv(M[k][np.ix_(idx, idx)] + np.diag(lam[idx])) @ S[k][idx]
        Wk[0] = 0  # the intercept is not removed
        W[k][idx] = Wk
        lambdas[k][idx] = lam[idx]
    return W, lambdas


def correct(Z_orig: np.ndarray, R: np.ndarray, codes: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``Z_orig - sum_k R_ik W_k^T x_i`` for each cell (x_i: its design row; W's intercept row is zero)."""
    Z = np.array(Z_orig, dtype=F32)
    W32 = W.astype(F32)
    for c in range(codes.shape[1]):
        for b, idx in _groups(codes[:, c]):
            Z[idx] -= R[idx] @ W32[:, 1 + b, :]
    return Z
