"""harmonybridge: Harmony in Python and R on the same cells, and AnnData <-> Seurat.

``import harmonybridge`` never starts R; the R parts start it when first called.
"""

from ._cluster import cluster
from ._compat import ConversionWarning, HarmonyBridgeWarning
from ._crosscheck import CrossCheckReport, cross_check
from ._harmony import harmony_integrate, run_harmony
from ._metrics import compare_clusterings
from ._params import HarmonyParams
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
from .engines._seurat import SeuratPathUnavailable, seurat_defaults
from .markers import compare_markers, markers
from .session import SeuratSession, call_seurat
from .transfer import transfer_labels

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
