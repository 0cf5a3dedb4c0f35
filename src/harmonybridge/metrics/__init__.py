"""How alike two embeddings or clusterings are, how well batches mix: LISI, per-PC r, kNN overlap,
ARI/NMI, silhouette, and the one neighbour graph they share."""

from ._neighbors import NeighborGraph, leiden, sample_cells
from ._scores import compare_clusterings, lisi, median_lisi, silhouette

__all__ = ["NeighborGraph", "compare_clusterings", "leiden", "lisi", "median_lisi", "sample_cells", "silhouette"]
