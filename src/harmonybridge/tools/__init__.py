"""Analysis steps with scanpy or Seurat behind one call: clusters, markers, label transfer."""

from ._cluster import cluster
from ._markers import compare_markers, markers
from ._transfer import transfer_labels

__all__ = ["cluster", "compare_markers", "markers", "transfer_labels"]
