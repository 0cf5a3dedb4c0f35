"""Everything that runs Harmony: the scanpy-shaped entry points, the parameters and the engines.

``run_harmony`` / ``harmony_integrate`` (AnnData or a Seurat object in), ``HarmonyParams`` (every
Harmony parameter and every name table), ``engines`` (the engine registry and ``run_engine``).
"""

from ._anndata import harmony_integrate, run_harmony
from ._store import check_store_output, run_store
from ._store import describe as describe_store_run
from .params import HarmonyParams

__all__ = [
    "HarmonyParams",
    "check_store_output",
    "describe_store_run",
    "harmony_integrate",
    "run_harmony",
    "run_store",
]
