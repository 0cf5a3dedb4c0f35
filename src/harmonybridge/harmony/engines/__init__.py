"""The Harmony engines and the one way to run them.

Each engine takes a checked embedding, batch columns and resolved parameters and returns an
:class:`EngineResult`; none of them sees the AnnData. The front ends build one checked
:class:`HarmonyInput` (an AnnData's by :func:`from_anndata`, a Seurat object's with its embedding
left in R, the R package's); :func:`run_engine` resolves the parameters and runs one engine on it;
everything that runs Harmony goes through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from harmonybridge.harmony.params import HarmonyParams

from ._dask import CHUNK_CELLS, cleanup_scratch, harmonize
from ._input import HarmonyInput, from_anndata
from ._python import MIN_HARMONYPY, check_harmonypy_version, import_harmonypy, run_python
from ._r import r_overrides
from ._result import EngineResult
from ._seurat import SeuratPathUnavailable, require_seurat_path, run_seurat, seurat_defaults


@dataclass(frozen=True)
class Engine:
    """One Harmony engine: its name (``backend=`` / ``engines=``), how reports and tables name it,
    and whether ``run_harmony`` runs it (Seurat's IntegrateLayers runs in the cross-check only)."""

    name: str
    label: str
    short: str
    backend: bool


#: The engine registry: every engine name the package, the command and the cross-check accept.
ENGINES: dict[str, Engine] = {
    e.name: e
    for e in (
        Engine("python", "Python (harmonypy)", "python", backend=True),
        Engine("r", "R (harmony)", "R", backend=True),
        Engine("seurat", "Seurat 5 (IntegrateLayers)", "Seurat", backend=False),
        Engine("dask", "Dask (chunked harmonypy algorithm)", "dask", backend=True),
    )
}
#: run_harmony's engines, for type checkers (a test keeps it equal to the registry's backends)
Backend = Literal["python", "r", "dask"]
BACKENDS: tuple[str, ...] = tuple(name for name, e in ENGINES.items() if e.backend)

__all__ = [
    "CHUNK_CELLS",
    "cleanup_scratch",
    "harmonize",
    "BACKENDS",
    "ENGINES",
    "Backend",
    "Engine",
    "MIN_HARMONYPY",
    "SeuratPathUnavailable",
    "require_seurat_path",
    "run_seurat",
    "seurat_defaults",
    "EngineResult",
    "HarmonyInput",
    "from_anndata",
    "check_harmonypy_version",
    "import_harmonypy",
    "r_overrides",
    "run_engine",
    "run_python",
]


def run_engine(
    cells: HarmonyInput,
    backend: str,
    params: HarmonyParams,
    *,
    verbose: bool = False,
    scheduler: Any = None,
    early_stop: bool = True,
) -> EngineResult:
    """Resolve the parameters for these cells and run one engine on them: the one way every front end
    (AnnData, Seurat object, ``.rds``, the R package, the cross-check) runs Harmony.

    ``scheduler`` is the dask engine's (see ``run_harmony``); ``early_stop=False`` runs ``max_iter``
    iterations whatever the objective does (R's ``early_stop = FALSE``; the python engine only).
    """
    if backend not in BACKENDS:
        msg = f"backend must be one of {list(BACKENDS)}, got {backend!r}"
        raise ValueError(msg)
    if scheduler is not None and backend != "dask":
        msg = f"scheduler (--scheduler) is for the dask backend only, got backend {backend!r}; remove it or use dask"
        raise ValueError(msg)
    if not early_stop and backend != "python":
        msg = f"early_stop=False is for the python backend only, got backend {backend!r}"
        raise ValueError(msg)
    resolved = params.resolve(cells.n_cells, len(cells.keys))
    if backend == "python":
        return run_python(cells.array(), cells.batches, cells.keys, resolved, verbose=verbose, early_stop=early_stop)
    if backend == "dask":
        from harmonybridge.harmony._scheduler import use_scheduler  # dask is imported only when asked for

        from ._dask import run_dask

        with use_scheduler(scheduler, ncores=resolved.ncores) as sched:
            result = run_dask(cells.array(), cells.batches, cells.keys, resolved, verbose=verbose)
        result.extra["scheduler_record"] = sched.record()
        return result
    from ._r import run_r  # R is started only when asked for

    return run_r(cells.embedding, cells.batches, cells.keys, resolved, verbose=verbose)
