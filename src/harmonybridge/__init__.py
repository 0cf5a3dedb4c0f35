"""harmonybridge: Harmony in Python and R on the same cells, and AnnData <-> Seurat.

``import harmonybridge`` never starts R; the R parts start it when first called.
"""

from ._core.warnings import ConversionWarning, HarmonyBridgeWarning
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
from .crosscheck import CrossCheckReport, cross_check
from .harmony import HarmonyParams, harmony_integrate, run_harmony, run_store
from .harmony.engines import SeuratPathUnavailable, seurat_defaults
from .metrics import compare_clusterings
from .session import SeuratSession, call_seurat
from .tools import cluster, compare_markers, markers, transfer_labels

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
    "run_store",
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
