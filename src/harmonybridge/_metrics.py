"""Agreement and integration metrics, from maintained libraries: LISI from harmonypy,
ARI/NMI/silhouette and exact neighbours from scikit-learn. (Graphs and Leiden: :mod:`._cluster`.)"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ._check import cells_for_neighbors
from ._neighbors import sample_cells


def lisi(
    X: np.ndarray,
    labels: pd.Series | np.ndarray,
    perplexity: float = 30,
    *,
    max_cells: int = 20_000,
    random_state: int = 0,
) -> np.ndarray:
    """Each cell's LISI of ``labels`` in ``X`` (harmonypy's implementation, checked against R's lisi).

    1 means one label around the cell; the number of labels means all of them in equal shares.
    Its cost grows with the square of the cells, so above ``max_cells`` it is computed on a
    seeded sample of that many cells (the values are then those of the sample, in cell order).
    """
    from harmonypy import compute_lisi

    labels = pd.Series(np.asarray(labels))
    X = np.asarray(X)
    keep = sample_cells(len(labels), max_cells, random_state=random_state)
    if keep is not None:
        X, labels = X[keep], labels.iloc[keep].reset_index(drop=True)
    perplexity = min(perplexity, (len(labels) - 1) / 3)
    frame = pd.DataFrame({"label": labels.to_numpy()})
    return np.asarray(compute_lisi(np.asarray(X), frame, ["label"], perplexity=perplexity)[:, 0], dtype=np.float64)


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
    from harmonypy import compute_lisi

    frame = pd.DataFrame({name: np.asarray(values) for name, values in columns.items()})
    X = np.asarray(X)
    keep = sample_cells(len(frame), max_cells, random_state=random_state)
    if keep is not None:
        X, frame = X[keep], frame.iloc[keep].reset_index(drop=True)
    perplexity = min(perplexity, (len(frame) - 1) / 3)
    lisi = compute_lisi(X, frame, list(frame.columns), perplexity=perplexity)
    return {name: float(np.median(lisi[:, i])) for i, name in enumerate(frame.columns)}


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
    """Silhouette of labels in X (scikit-learn), on a seeded sample above ``max_cells`` cells."""
    from sklearn.metrics import silhouette_score

    n = X.shape[0]
    sample = None if n <= max_cells else max_cells
    return float(silhouette_score(np.asarray(X), np.asarray(labels), sample_size=sample, random_state=random_state))
