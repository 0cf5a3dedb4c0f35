"""harmonybridge: Harmony in Python and R on the same cells, and AnnData <-> Seurat.

``import harmonybridge`` never starts R; the R parts start it when first called.
"""

from harmonybridge._core.warnings import ConversionWarning, HarmonyBridgeWarning
from harmonybridge.crosscheck._runs import CrossCheckReport, cross_check
from harmonybridge.harmony._anndata import harmony_integrate, run_harmony
from harmonybridge.harmony.engines._seurat import SeuratPathUnavailable, seurat_defaults
from harmonybridge.harmony.params import HarmonyParams
from harmonybridge.metrics._scores import compare_clusterings
from harmonybridge.tools._cluster import cluster
from harmonybridge.tools._markers import compare_markers, markers
from harmonybridge.tools._transfer import transfer_labels

from .convert import (
    ConversionLog,
    assays,
    from_mudata,
    from_seurat,
    read,
    read_rds,
    to_mudata,
    to_seurat,
    write,
    write_rds,
)
from .session import SeuratSession, call_seurat

__version__ = "0.1.0"

__all__ = [
    "CrossCheckReport",
    "assays",
    "cluster",
    "compare_clusterings",
    "cross_check",
    "ConversionLog",
    "ConversionWarning",
    "HarmonyBridgeWarning",
    "HarmonyParams",
    "__version__",
    "from_mudata",
    "from_seurat",
    "harmony_integrate",
    "read",
    "read_rds",
    "run_harmony",
    "SeuratSession",
    "call_seurat",
    "compare_markers",
    "markers",
    "transfer_labels",
    "SeuratPathUnavailable",
    "seurat_defaults",
    "to_mudata",
    "to_seurat",
    "write",
    "write_rds",
]
