"""How alike two embeddings or clusterings are, how well batches mix: LISI, per-PC r, kNN overlap,
ARI/NMI, silhouette, and the one neighbour graph they share."""

from ._neighbors import NeighborGraph, leiden, sample_cells
from ._scores import (
    compare_clusterings,
    knn_indices,
    knn_overlap,
    lisi,
    median_lisi,
    median_lisis,
    per_pc_pearson,
    relative_l2,
    silhouette,
)

__all__ = [
    "NeighborGraph",
    "compare_clusterings",
    "knn_indices",
    "knn_overlap",
    "leiden",
    "lisi",
    "median_lisi",
    "median_lisis",
    "per_pc_pearson",
    "relative_l2",
    "sample_cells",
    "silhouette",
]
