"""The Harmony engines and the one way to run them.

Each engine takes a checked embedding, batch columns and resolved parameters and returns an
:class:`EngineResult`; none of them sees the AnnData. :func:`run_engine` checks the input,
resolves the parameters and runs one engine; everything that runs Harmony goes through it.
"""

from __future__ import annotations

from anndata import AnnData

from harmonybridge import _check
from harmonybridge._params import HarmonyParams

from ._python import MIN_HARMONYPY, check_harmonypy_version, import_harmonypy, run_python
from ._r import r_overrides
from ._result import EngineResult

BACKENDS = ("python", "r")

__all__ = [
    "BACKENDS",
    "MIN_HARMONYPY",
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
    from ._r import run_r  # R is started only when asked for

    return run_r(Z, meta, keys, resolved, verbose=verbose)
