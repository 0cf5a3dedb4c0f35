"""Agreement and integration metrics: LISI (harmonypy's algorithm, vectorised), ARI/NMI and exact
neighbours from scikit-learn, silhouette (scikit-learn's definition, one matrix product per block).
(Graphs and Leiden: :mod:`._neighbors`, :mod:`._cluster`.)"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from harmonybridge._core.checks import cells_for_neighbors

from ._neighbors import sample_cells


def _simpson_weights(dist: np.ndarray, perplexity: float, tol: float = 1e-5, n_iter: int = 50) -> np.ndarray:
    """Each cell's Gaussian weights over its neighbours, calibrated to ``perplexity``.

    harmonypy's (and R lisi's) binary search on beta for every cell at once: the same steps,
    start (beta 1), tolerance and 50 rounds; a cell stops where harmonypy's loop stops for it.
    Rows whose weights vanish (entropy 0) come back as NaN (harmonypy gives them LISI 0).
    """
    n = dist.shape[0]
    log_u = np.log(perplexity)
    beta = np.ones(n)
    lo = np.full(n, -np.inf)
    hi = np.full(n, np.inf)
    P = np.empty_like(dist)
    H = np.zeros(n)
    active = np.arange(n)
    for _ in range(n_iter):
        d, b = dist[active], beta[active][:, None]
        w = np.exp(-d * b)
        total = w.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            h = np.where(total > 0, np.log(total) + beta[active] * (d * w).sum(axis=1) / total, 0.0)
            P[active] = np.where(total[:, None] > 0, w / total[:, None], 0.0)
        H[active] = h
        diff = h - log_u
        going = np.abs(diff) >= tol
        up, down = going & (diff > 0), going & (diff <= 0)
        r = active[up]
        lo[r] = beta[r]
        beta[r] = np.where(np.isfinite(hi[r]), (beta[r] + hi[r]) / 2, beta[r] * 2)
        r = active[down]
        hi[r] = beta[r]
        beta[r] = np.where(np.isfinite(lo[r]), (beta[r] + lo[r]) / 2, beta[r] / 2)
        active = active[going]
        if active.size == 0:
            break
    P[H == 0] = np.nan
    return P


def _lisi_columns(X: np.ndarray, frame: pd.DataFrame, perplexity: float) -> np.ndarray:
    """LISI of every column of ``frame`` in ``X``: cells x columns, one neighbour search for all columns.

    The steps of harmonypy's ``compute_lisi`` (its C++ code, after R's lisi): the ``3 x perplexity``
    nearest other cells by Euclidean distance, Gaussian weights calibrated to the perplexity, and
    1 / Simpson's index of the label shares they carry. The search is exact (scikit-learn, brute force,
    every core) instead of a single-threaded k-d tree, and the calibration runs on all cells at once.
    """
    from sklearn.neighbors import NearestNeighbors

    X = np.ascontiguousarray(X, dtype=np.float64)
    n = X.shape[0]
    k = min(int(perplexity * 3), n - 1)
    cells_for_neighbors(n, k, "LISI neighbours")
    dist, idx = NearestNeighbors(n_neighbors=k, algorithm="brute", n_jobs=-1).fit(X).kneighbors()
    P = _simpson_weights(dist, perplexity)
    out = np.empty((n, frame.shape[1]))
    rows = np.repeat(np.arange(n), k)
    for c, name in enumerate(frame.columns):
        codes, levels = pd.factorize(frame[name])
        shares = np.zeros((n, len(levels)))
        np.add.at(shares, (rows, codes[idx].ravel()), P.ravel())
        simpson = (shares * shares).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, c] = np.where(simpson > 0, 1.0 / simpson, 0.0)
    return out


def lisi(
    X: np.ndarray,
    labels: pd.Series | np.ndarray,
    perplexity: float = 30,
    *,
    max_cells: int = 20_000,
    random_state: int = 0,
) -> np.ndarray:
    """Each cell's LISI of ``labels`` in ``X`` (harmonypy's algorithm, checked against it and R's lisi).

    1 means one label around the cell; the number of labels means all of them in equal shares.
    Its cost grows with the square of the cells, so above ``max_cells`` it is computed on a
    seeded sample of that many cells (the values are then those of the sample, in cell order).
    """
    return _sampled_lisi(X, {"label": labels}, perplexity, max_cells, random_state)[:, 0]


def median_lisi(
    X: np.ndarray,
    labels: pd.Series | np.ndarray,
    perplexity: float = 30,
    *,
    max_cells: int = 20_000,
    random_state: int = 0,
) -> float:
    """Median of :func:`lisi` over the cells."""
    return float(np.median(lisi(X, labels, perplexity, max_cells=max_cells, random_state=random_state)))


def median_lisis(
    X: np.ndarray,
    columns: dict[str, pd.Series | np.ndarray],
    perplexity: float = 30,
    *,
    max_cells: int = 20_000,
    random_state: int = 0,
) -> dict[str, float]:
    """Median LISI of several label columns in X with one neighbour search (as :func:`median_lisi` each)."""
    values = _sampled_lisi(X, columns, perplexity, max_cells, random_state)
    return {name: float(np.median(values[:, i])) for i, name in enumerate(columns)}


def _sampled_lisi(
    X: np.ndarray, columns: dict[str, pd.Series | np.ndarray], perplexity: float, max_cells: int, random_state: int
) -> np.ndarray:
    frame = pd.DataFrame({name: np.asarray(values) for name, values in columns.items()})
    X = np.asarray(X)
    keep = sample_cells(len(frame), max_cells, random_state=random_state)
    if keep is not None:
        X, frame = X[keep], frame.iloc[keep].reset_index(drop=True)
    return _lisi_columns(X, frame, min(perplexity, (len(frame) - 1) / 3))


def per_pc_pearson(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pearson r of each column of A with the same column of B."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if A.shape != B.shape:
        msg = f"embeddings differ in shape: {A.shape} vs {B.shape}"
        raise ValueError(msg)
    A = A - A.mean(0)
    B = B - B.mean(0)
    denom = np.sqrt((A * A).sum(0) * (B * B).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (A * B).sum(0) / denom
    return np.where(denom > 0, r, 1.0)


def relative_l2(A: np.ndarray, B: np.ndarray) -> float:
    """||A - B|| / mean(||A||, ||B||) (Frobenius): symmetric, 0 when equal."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    scale = 0.5 * (np.linalg.norm(A) + np.linalg.norm(B))
    return float(np.linalg.norm(A - B) / scale) if scale > 0 else 0.0


def knn_indices(X: np.ndarray, k: int = 15) -> np.ndarray:
    """Each cell's k nearest neighbours (itself excluded), exact, by scikit-learn."""
    from sklearn.neighbors import NearestNeighbors

    X = np.asarray(X, dtype=np.float32)
    cells_for_neighbors(X.shape[0], k, "nearest neighbours")
    nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", n_jobs=-1).fit(X)
    idx = nn.kneighbors(return_distance=False, n_neighbors=k)
    return idx


def knn_overlap(idx_a: np.ndarray, idx_b: np.ndarray) -> float:
    """Mean share of each cell's neighbours in A that are also its neighbours in B."""
    k = idx_a.shape[1]
    a = np.sort(idx_a, axis=1)
    b = np.sort(idx_b, axis=1)
    # per row: |a ∩ b| via searchsorted on sorted rows (vectorised over cells)
    offsets = (np.arange(a.shape[0]) * (int(max(a.max(), b.max())) + 1))[:, None]
    fa, fb = (a + offsets).ravel(), (b + offsets).ravel()
    common = np.isin(fa, fb, assume_unique=True).reshape(a.shape).sum(1)
    return float(np.mean(common / k))


def compare_clusterings(a: pd.Series | np.ndarray, b: pd.Series | np.ndarray) -> dict:
    """ARI, NMI and the contingency table of two clusterings of the same cells."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    a = pd.Series(np.asarray(a), name=getattr(a, "name", None) or "a")
    b = pd.Series(np.asarray(b), name=getattr(b, "name", None) or "b")
    if len(a) != len(b):
        msg = f"clusterings cover different numbers of cells: {len(a)} vs {len(b)}"
        raise ValueError(msg)
    table = pd.crosstab(
        _natural_categories(a), _natural_categories(b).rename(b.name if b.name != a.name else f"{b.name} (2)")
    )
    return {
        "ari": float(adjusted_rand_score(a, b)),
        "nmi": float(normalized_mutual_info_score(a, b)),
        "contingency": table,
    }


def _natural_key(label: object) -> tuple:
    """'10' after '2', 'c10' after 'c2': digit runs compare as numbers."""
    parts = re.split(r"(\d+)", str(label))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p != "")


def _natural_categories(s: pd.Series) -> pd.Series:
    """Labels as categories in natural order (0, 1, 2, ..., 10), not text order (0, 1, 10, 2)."""
    levels = sorted(pd.unique(s.dropna()), key=_natural_key)
    return pd.Series(pd.Categorical(s, categories=levels), index=s.index, name=s.name)


def silhouette(X: np.ndarray, labels: np.ndarray, *, max_cells: int = 20_000, random_state: int = 0) -> float:
    """Mean silhouette of ``labels`` in X (Euclidean), on a seeded sample above ``max_cells`` cells.

    scikit-learn's ``silhouette_score`` (the same definition, and the same sample for the same
    ``random_state``), computed with one matrix product per block of cells: each cell's summed
    distance to every label at once, instead of a pass over the labels per cell.
    """
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    n = X.shape[0]
    if n > max_cells:
        keep = np.random.RandomState(random_state).permutation(n)[:max_cells]  # sklearn's sample
        X, labels = X[keep], labels[keep]
    codes, levels = pd.factorize(labels)
    if not 2 <= len(levels) <= len(codes) - 1:
        msg = f"silhouette needs 2 to n_cells - 1 labels, got {len(levels)}"
        raise ValueError(msg)
    onehot = np.zeros((len(codes), len(levels)))
    onehot[np.arange(len(codes)), codes] = 1.0
    sizes = onehot.sum(axis=0)
    sq = (X * X).sum(axis=1)
    values = np.empty(len(codes))
    for start in range(0, len(codes), 2048):
        block = slice(start, start + 2048)
        d2 = sq[block, None] + sq[None, :] - 2.0 * (X[block] @ X.T)
        d = np.sqrt(np.maximum(d2, 0.0))
        d[np.arange(d.shape[0]), np.arange(block.start, block.start + d.shape[0])] = 0.0
        sums = d @ onehot  # cells x labels
        own = codes[block]
        own_size = sizes[own] - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            a = sums[np.arange(len(own)), own] / own_size
            mean_other = sums / sizes
        mean_other[np.arange(len(own)), own] = np.inf
        b = mean_other.min(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            sil = (b - a) / np.maximum(a, b)
        values[block] = np.where(own_size > 0, np.nan_to_num(sil), 0.0)  # a lone cell of its label: 0, as sklearn
    return float(values.mean())
