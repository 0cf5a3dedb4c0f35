"""harmonybridge: Harmony in Python and R on the same cells, and AnnData <-> Seurat.

``import harmonybridge`` never starts R; the R parts start it when first called.
"""

from ._compat import ConversionWarning, HarmonyBridgeWarning
from ._harmony import harmony_integrate, run_harmony
from ._io import read, write
from ._params import HarmonyParams

__version__ = "0.1.0"

__all__ = [
    "ConversionWarning",
    "HarmonyBridgeWarning",
    "HarmonyParams",
    "__version__",
    "harmony_integrate",
    "read",
    "run_harmony",
    "write",
]
