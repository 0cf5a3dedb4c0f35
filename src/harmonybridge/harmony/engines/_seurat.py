"""The third Harmony path users meet: Seurat 5's ``IntegrateLayers(method = HarmonyIntegration)``.

It passes its own defaults to harmony (Seurat issue 8467: ``max.iter.cluster`` 20 and
``epsilon.cluster`` 1e-5, where harmony and harmonypy use 4 and 1e-3), and it cannot set
``alpha``, ``batch_prop_cutoff`` or ``ncores`` (harmony's own defaults apply). This engine
runs that path on a Seurat 5 object of the same cells and embedding (``r/R/integrate.R``),
either with Seurat's defaults (``params=None``) or with harmonybridge's parameters.

Seurat 5.0 to 5.2's HarmonyIntegration calls ``harmony::HarmonyMatrix``, which harmony 2.0
removed, so ``IntegrateLayers`` fails as installed. There the engine runs the installed
HarmonyIntegration with that one call redirected to ``harmony::RunHarmony`` the way Seurat's
own fix calls it (satijalab/seurat PR 9789); :attr:`SeuratPath.note` says so, and the
cross-check's report repeats it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harmonybridge import _rbridge
from harmonybridge.harmony.params import INTEGRATION_ARGS, HarmonyParams

from ._r import r_overrides
from ._result import EngineResult

logger = logging.getLogger("harmonybridge")

#: What HarmonyIntegration cannot pass: harmony's own defaults apply (read from the installed harmony).
FIXED = ("alpha", "batch_prop_cutoff", "ncores")


class SeuratPathUnavailable(RuntimeError):
    """This R cannot run IntegrateLayers(method = HarmonyIntegration); the message says why and the fix."""


@dataclass(frozen=True)
class SeuratPath:
    """What the installed Seurat's HarmonyIntegration would run, and whether it can."""

    ok: bool
    reason: str
    #: how the path runs when it is not exactly as installed (the redirected HarmonyMatrix call), else ""
    note: str
    versions: dict[str, str]
    defaults: dict[str, Any]
    fixed: dict[str, Any]

    def params(self, params: HarmonyParams | None, *, random_state: int) -> HarmonyParams:
        """The parameters this path runs with: Seurat's defaults (``params=None``) or ``params``,
        with what the path cannot set taken from harmony's defaults."""
        if params is None:
            values = dict(self.defaults)
        else:
            values = {k: getattr(params, k) for k in INTEGRATION_ARGS}
        values.update(self.fixed)
        return HarmonyParams(**values, random_state=random_state)


def seurat_path() -> SeuratPath:
    """Ask R whether it can run the Seurat path (versions, defaults, and if not, why)."""
    st = _rbridge.seurat_harmony_path()
    defaults, fixed = st["defaults"], st["fixed"]
    for values in (defaults, fixed):  # R's integer-valued doubles (ncores = 1) -> int where HarmonyParams wants one
        for name in ("nclust", "max_iter", "max_iter_kmeans", "ncores"):
            if isinstance(values.get(name), float):
                values[name] = int(values[name])
    return SeuratPath(st["ok"], st["reason"], st["note"], st["versions"], defaults, fixed)


def _differences_from_harmonybridge(path: SeuratPath) -> str:
    ours = HarmonyParams()
    diff = {k: v for k, v in path.defaults.items() if v != getattr(ours, k)}
    if not diff:
        return ""
    theirs = ", ".join(f"{k}={v}" for k, v in diff.items())
    mine = ", ".join(f"{getattr(ours, k)}" for k in diff)
    return (
        f". Seurat {path.versions.get('Seurat')}'s HarmonyIntegration passes {theirs} where harmonybridge uses {mine}; "
        "to see what that changes: hb.cross_check(adata, batch_key, r_params=hb.seurat_defaults())"
    )


def require_seurat_path() -> SeuratPath:
    """The path, or :class:`SeuratPathUnavailable` saying why not (before any work)."""
    path = seurat_path()
    if not path.ok:
        raise SeuratPathUnavailable(path.reason + (_differences_from_harmonybridge(path) if path.defaults else ""))
    return path


def seurat_defaults() -> dict[str, Any]:
    """The values Seurat 5's ``HarmonyIntegration`` gives harmony, in harmonybridge's names (None: harmony's
    automatic value), read from the installed Seurat; with what it cannot set (harmony's defaults).

    To run them through another engine: ``hb.cross_check(adata, key, r_params=hb.seurat_defaults())``.
    """
    path = seurat_path()
    if not path.defaults:
        raise SeuratPathUnavailable(path.reason)
    return {**path.defaults, **path.fixed}


def run_seurat(
    Z: np.ndarray,
    meta: pd.DataFrame,
    keys: list[str],
    params: HarmonyParams | None,
    *,
    random_state: int = 0,
    verbose: bool = False,
    path: SeuratPath | None = None,
) -> EngineResult:
    """Harmony by ``IntegrateLayers(method = HarmonyIntegration)``; ``set.seed(random_state)`` first.

    ``params=None`` runs Seurat's own defaults; otherwise HarmonyIntegration gets harmonybridge's
    values for every argument it has. The result's ``params`` are the values the path ran with.
    IntegrateLayers returns only the embedding, so there is no objective trace.
    """
    if len(keys) != 1:
        msg = (
            f"the seurat engine corrects one batch column (IntegrateLayers corrects the layers a Seurat 5 "
            f"assay is split into), got {keys}; give one batch key"
        )
        raise ValueError(msg)
    path = path or require_seurat_path()
    effective = path.params(params, random_state=random_state)
    n_cells, n_pcs = Z.shape
    r_params: dict[str, Any] = {}
    if params is not None:
        resolved = params.resolve(n_cells, 1)
        r_params = {r_name: getattr(resolved, name) for name, r_name in INTEGRATION_ARGS.items()}
    logger.info(
        "harmony (seurat, IntegrateLayers with %s): %d cells x %d PCs, batch %s",
        "Seurat's defaults" if params is None else "harmonybridge's parameters",
        n_cells,
        n_pcs,
        keys,
    )
    start = time.perf_counter()
    col = meta[keys[0]]
    values = col.astype(str) if not isinstance(col.dtype, pd.CategoricalDtype) else col.cat.remove_unused_categories()
    cat = pd.Categorical(values)
    out = _rbridge.seurat_integrate(
        Z, cat.codes.astype(np.int64), [str(c) for c in cat.categories], r_params, seed=random_state, verbose=verbose
    )
    corrected, versions = out["embedding"], out["versions"]
    seconds = time.perf_counter() - start
    return EngineResult(
        embedding=corrected,
        engine="Seurat",
        versions=versions,
        objective=np.zeros(0),
        kmeans_rounds=np.zeros(0, dtype=np.int64),
        objective_kmeans=np.zeros(0),
        seconds=seconds,
        params=effective.resolve(n_cells, 1),
        extra={"defaults": "seurat" if params is None else "harmonybridge"},
        overrides=r_overrides(effective, n_cells),  # HarmonyIntegration runs R harmony underneath
    )
