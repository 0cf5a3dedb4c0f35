"""The Harmony engines and the one way to run them.

Each engine takes a checked embedding, batch columns and resolved parameters and returns an
:class:`EngineResult`; none of them sees the AnnData. :func:`run_engine` checks the input,
resolves the parameters and runs one engine; everything that runs Harmony goes through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from anndata import AnnData

from harmonybridge._core import checks as _check
from harmonybridge.harmony.params import HarmonyParams

from ._dask import CHUNK_CELLS, cleanup_scratch, harmonize
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
    "check_harmonypy_version",
    "import_harmonypy",
    "r_overrides",
    "run_engine",
    "run_python",
]


def run_engine(
    adata: AnnData, keys: list[str], basis: str, backend: str, params: HarmonyParams, verbose: bool
) -> EngineResult:
    """Check the input and run one engine; the AnnData is read, never written."""
    if backend not in BACKENDS:
        msg = f"backend must be one of {list(BACKENDS)}, got {backend!r}"
        raise ValueError(msg)
    _check.unique_cells(adata.obs_names)
    Z = _check.embedding(adata, basis)
    n = _check.n_cells(adata)
    meta = _check.batch_frame(adata, keys)
    resolved = params.resolve(n, len(keys))
    if backend == "python":
        return run_python(Z, meta, keys, resolved, verbose=verbose)
    if backend == "dask":
        from ._dask import run_dask  # dask is imported only when asked for

        return run_dask(Z, meta, keys, resolved, verbose=verbose)
    from ._r import run_r  # R is started only when asked for

    return run_r(Z, meta, keys, resolved, verbose=verbose)
